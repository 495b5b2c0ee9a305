"""`python3 -m harness.swift_resume <output_dir> -- swift sft ...`: exec ms-swift, resuming.

A Slurm job runs the argv it was submitted with. When Slurm requeues a training stage
(node failure, preemption; the sbatch scripts carry `--requeue`), the second start must
continue from the checkpoint the first one wrote, which did not exist at submit time. This
wrapper looks for the newest complete `checkpoint-N` under the stage's output folder when
the job (re)starts and sets `--resume_from_checkpoint` to it; with none, it runs the command
as given. It then replaces itself with the trainer (os.execvp), so signals, exit codes and
ms-swift's own torchrun start are unchanged.

verl needs no wrapper: `trainer.resume_mode=auto` (its default) already resumes at start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.finalize import last_swift_checkpoint

FLAG = "--resume_from_checkpoint"


def wrap(argv: Sequence[str], output_dir: str, python: str = "python3") -> tuple[str, ...]:
    """The argv that runs `argv` through this wrapper."""
    return (python, "-m", "harness.swift_resume", str(output_dir), "--", *argv)


def with_resume(argv: Sequence[str], output_dir: Path) -> tuple[list[str], Path | None]:
    """`argv` resuming from the newest complete checkpoint under output_dir, if there is one.

    A newer checkpoint replaces a `--resume_from_checkpoint` already in argv (the one a
    resumed submission carried is older than what the requeued job has since written).
    """
    checkpoint = last_swift_checkpoint(output_dir)
    out = list(argv)
    if checkpoint is None:
        return out, None
    for i, item in enumerate(out):
        if item == FLAG and i + 1 < len(out):
            out[i + 1] = str(checkpoint)
            return out, checkpoint
        if item.startswith(FLAG + "="):
            out[i] = f"{FLAG}={checkpoint}"
            return out, checkpoint
    return out + [FLAG, str(checkpoint)], checkpoint


def main(args: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if args is None else args)
    if len(args) < 3 or args[1] != "--":
        print("usage: python3 -m harness.swift_resume <output_dir> -- <trainer argv ...>", file=sys.stderr)
        return 2
    output_dir, argv = Path(args[0]), args[2:]
    argv, checkpoint = with_resume(argv, output_dir)
    restart = os.environ.get("SLURM_RESTART_COUNT", "0")
    if checkpoint is not None:
        print(f"[harness] resuming from {checkpoint} (Slurm restart {restart})", flush=True)
    else:
        print(
            f"[harness] no complete checkpoint under {output_dir}; starting the stage "
            f"(Slurm restart {restart})",
            flush=True,
        )
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"error: cannot start {argv[0]!r}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
