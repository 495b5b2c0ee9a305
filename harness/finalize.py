"""`python -m harness.finalize swift|verl <stage_dir>`: point `<stage_dir>/final` at the last checkpoint.

Runs after a training stage (as the launch job's post command, also inside Slurm jobs), so the
next stage, rendered before training started, finds its input without knowing the step N:
ms-swift writes `<stage_dir>/output/checkpoint-N`, verl `<stage_dir>/checkpoints/global_step_N`.
It also counts the rows the trainer left out as too long into `<stage_dir>/skipped_records.json`:
ms-swift's rows longer than max_length (recorded by data_prep/swift_skipped_records.py) and verl's
prompts longer than data.max_prompt_length (data_prep/verl_skipped_records.py).
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


def skipped_rows(stage_dir: Path, trainer: str = "swift") -> dict[str, Any] | None:
    """The distinct rows the trainer left out as longer than its limit (each once, with how many
    times it was met), or None when it left out none. `trainer`: swift or verl."""
    raw = stage_dir / SKIPPED_FILE
    if not raw.is_file():
        return None
    rows: dict[tuple[Any, str, tuple[str, ...]], dict[str, Any]] = {}
    unreadable = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = (record.get("split"), str(record.get("messages_sha256")), tuple(record.get("images") or ()))
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
    training = [r for r in distinct if r.get("split") != "val"]
    validation = [r for r in distinct if r.get("split") == "val"]
    limits = {r["max_length"] for r in distinct if r.get("max_length") is not None}
    summary = {
        "trainer": "verl" if trainer == "verl" else "ms-swift",
        "reason": distinct[0].get("reason") if distinct else None,
        "rows": len(training),
        "times": sum(r["times"] for r in training),
        "max_length": max(limits) if limits else None,
        "longest": max((r["length"] for r in distinct if r.get("length") is not None), default=None),
        "training_rows": (
            _dataset_rows(training)
            if trainer == "verl"
            else _training_rows(stage_dir / "output" / "args.json")
        ),
        "unreadable_lines": unreadable,
        "records": distinct,
    }
    if validation:
        summary["validation"] = {"rows": len(validation), "of": _dataset_rows(validation)}
    return summary


def _dataset_rows(records: list[dict[str, Any]]) -> int | None:
    """How many rows the dataset held before verl's filter (data_prep/verl_skipped_records.py)."""
    counts = [r["dataset_rows"] for r in records if isinstance(r.get("dataset_rows"), int)]
    return max(counts) if counts else None


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


def report_skipped_rows(stage_dir: Path, trainer: str = "swift") -> str | None:
    """Write `<stage_dir>/skipped_records.json` and return the line that says what it holds."""
    summary = skipped_rows(stage_dir, trainer)
    if summary is None:
        return None
    path = stage_dir / SKIPPED_SUMMARY
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    broken = summary["unreadable_lines"]
    unread = f"; {broken} line(s) of {stage_dir / SKIPPED_FILE} could not be read" if broken else ""
    of = f" of {summary['training_rows']}" if summary["training_rows"] is not None else ""
    limit = f"={summary['max_length']}" if summary["max_length"] is not None else ""
    if trainer == "verl":
        validation = summary.get("validation")
        val = ""
        if validation:
            val_of = f" of {validation['of']}" if validation["of"] is not None else ""
            val = f" and {validation['rows']} validation prompt(s){val_of}"
        return (
            f"[harness] warning: verl left out {summary['rows']} training prompt(s){of}{val} longer than "
            f"data.max_prompt_length{limit}{unread} (data.filter_overlong_prompts: never "
            f"{'trained or validated' if validation else 'trained'} on); they are listed in {path}; "
            f"raise the stage's data.max_prompt_length to keep them"
        )
    longest = f", the longest {summary['longest']} tokens" if summary["longest"] is not None else ""
    return (
        f"[harness] warning: ms-swift left out {summary['rows']} training row(s){of} longer than "
        f"max_length{limit}{longest}{unread} (truncation_strategy delete: each was dropped, or "
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
    warning = report_skipped_rows(stage_dir, args[0])
    if warning is not None:
        print(warning, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
