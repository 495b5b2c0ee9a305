"""`python -m harness.finalize swift|verl <stage_dir>`: point `<stage_dir>/final` at the last checkpoint.

Runs after a training stage (as the launch job's post command, also inside Slurm jobs), so the
next stage, rendered before training started, finds its input without knowing the step N:
ms-swift writes `<stage_dir>/output/checkpoint-N`, verl `<stage_dir>/checkpoints/global_step_N`.
After an ms-swift stage it also counts the rows ms-swift left out as longer than max_length
(recorded by data_prep/swift_skipped_records.py) into `<stage_dir>/skipped_records.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from common.atomic import replace_symlink
from data_prep.swift_skipped_records import SKIPPED_FILE

SKIPPED_SUMMARY = "skipped_records.json"


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


def skipped_rows(stage_dir: Path) -> dict[str, Any] | None:
    """The distinct rows ms-swift left out as longer than max_length (each once, with how many
    times it was drawn), or None when it left out none."""
    raw = stage_dir / SKIPPED_FILE
    if not raw.is_file():
        return None
    rows: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    unreadable = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = (str(record.get("messages_sha256")), tuple(record.get("images") or ()))
        except (ValueError, AttributeError, TypeError):
            # appends from several nodes to one file on a network file system may collide: a
            # broken line is counted, it never fails the stage that trained
            unreadable += 1
            continue
        seen = rows.setdefault(key, {**record, "times": 0})
        seen["times"] += 1
    if not rows and not unreadable:
        return None
    distinct = list(rows.values())
    limits = {r["max_length"] for r in distinct if r.get("max_length") is not None}
    return {
        "reason": distinct[0].get("reason"),
        "rows": len(distinct),
        "times": sum(r["times"] for r in distinct),
        "max_length": max(limits) if limits else None,
        "longest": max((r["length"] for r in distinct if r.get("length") is not None), default=None),
        "training_rows": _training_rows(stage_dir / "output" / "args.json"),
        "unreadable_lines": unreadable,
        "records": distinct,
    }


def _training_rows(args_json: Path) -> int | None:
    """How many rows the stage's local jsonl datasets hold (ms-swift's args.json names them)."""
    try:
        datasets = json.loads(args_json.read_text(encoding="utf-8")).get("dataset") or []
        files = [Path(d) for d in datasets]
        if not files or not all(f.suffix == ".jsonl" and f.is_file() for f in files):
            return None
        return sum(1 for f in files for line in f.open(encoding="utf-8") if line.strip())
    except (OSError, ValueError, AttributeError):
        return None


def report_skipped_rows(stage_dir: Path) -> str | None:
    """Write `<stage_dir>/skipped_records.json` and return the line that says what it holds."""
    summary = skipped_rows(stage_dir)
    if summary is None:
        return None
    path = stage_dir / SKIPPED_SUMMARY
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    of = f" of {summary['training_rows']}" if summary["training_rows"] is not None else ""
    longest = f", the longest {summary['longest']} tokens" if summary["longest"] is not None else ""
    broken = summary["unreadable_lines"]
    if broken:
        longest += f"; {broken} line(s) of {stage_dir / SKIPPED_FILE} could not be read"
    return (
        f"[harness] warning: ms-swift left out {summary['rows']} training row(s){of} longer than "
        f"max_length{'=' + str(summary['max_length']) if summary['max_length'] is not None else ''}"
        f"{longest} (truncation_strategy delete: each was dropped, or "
        f"another row trained in its place, {summary['times']} time(s) in all); they are listed in "
        f"{path}; raise the stage's max_length to train on them"
    )


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
    if args[0] == "swift":
        warning = report_skipped_rows(stage_dir)
        if warning is not None:
            print(warning, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
