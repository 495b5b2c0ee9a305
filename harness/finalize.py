"""`python -m harness.finalize swift|verl <stage_dir>`: point `<stage_dir>/final` at the last checkpoint.

Runs after a training stage (as the launch job's post command, also inside Slurm jobs), so the
next stage, rendered before training started, finds its input without knowing the step N:
ms-swift writes `<stage_dir>/output/checkpoint-N`, verl `<stage_dir>/checkpoints/global_step_N`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common.atomic import replace_symlink


def last_verl_checkpoint(stage_dir: Path) -> Path:
    checkpoints = stage_dir / "checkpoints"
    tracker = checkpoints / "latest_checkpointed_iteration.txt"
    if tracker.exists():
        step = tracker.read_text().strip()
        path = checkpoints / f"global_step_{step}"
        if path.is_dir():
            return path
    steps = sorted(checkpoints.glob("global_step_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    if not steps:
        raise FileNotFoundError(
            f"no global_step_* checkpoint under {checkpoints}; set the verl stage's "
            f"trainer.save_freq so it saves one"
        )
    return steps[-1]


def last_swift_checkpoint(output_dir: Path) -> Path | None:
    """The highest complete checkpoint-N folder ms-swift wrote under output_dir, if any.

    The Trainer writes trainer_state.json last (transformers Trainer._save_checkpoint), so a
    folder without it is a save that was interrupted (a killed run) and cannot be resumed from.
    """
    steps = [
        p
        for p in output_dir.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(steps, key=lambda p: int(p.name.split("-")[-1])) if steps else None


def link(target: Path, link_path: Path) -> None:
    replace_symlink(target, link_path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("swift", "verl"):
        print("usage: python -m harness.finalize swift|verl <stage_dir>", file=sys.stderr)
        return 2
    stage_dir = Path(args[1])
    try:
        if args[0] == "verl":
            target = last_verl_checkpoint(stage_dir)
        else:
            found = last_swift_checkpoint(stage_dir / "output")
            if found is None:
                raise FileNotFoundError(
                    f"no checkpoint-* under {stage_dir / 'output'}; the stage saved "
                    f"no checkpoint (check save_steps / save_strategy)"
                )
            target = found
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    link(target, stage_dir / "final")
    print(f"{stage_dir / 'final'} -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
