"""Per-step training metrics from the trainers' own logs.

- ms-swift 4.6: ``logging.jsonl`` in the stage's output folder (``<stage_dir>/output/**``), one JSON
  object per logging step written by its progress callback (``swift/trainers/patcher.py``): numeric
  metrics (``loss``, ``grad_norm``, ``learning_rate``, ``token_acc``; GRPO ``reward``,
  ``rewards/<func>/mean``, ``completions/mean_length``, ``kl``; DPO ``rewards/chosen``,
  ``rewards/accuracies``, ...) plus ``"global_step/max_steps": "12/100"`` and timing strings. The last
  line of a finished run is a summary (``last_model_checkpoint``, ``log_history``) and is skipped; a
  resumed run appends again, so a later line for the same step replaces an earlier one.
- verl 0.9.1 with ``trainer.logger`` containing ``file``: ``verl/utils/tracking.py:FileLogger``
  writes ``{"step": n, "data": {metric: value}}`` lines to ``$VERL_FILE_LOGGER_PATH`` or
  ``$VERL_FILE_LOGGER_ROOT/<project_name>/<experiment_name>.jsonl`` (root default: the working
  directory). Any such ``*.jsonl`` under the stage folder is read.
- verl with ``console``: ``step:<n> - key:value - ...`` lines (``verl/utils/logger/
  aggregate_logger.py``) in the stage's log file; numbers may print as ``np.float64(0.5)``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "Curves",
    "read_swift_log",
    "read_swift_stage",
    "read_verl_console_log",
    "read_verl_file_log",
    "read_verl_stage",
]

Curves = dict[str, dict[float, float]]  # metric key -> step -> value

_CONSOLE_LINE = re.compile(r"(?:^|\s)step:(\d+) - (.*)$")
_WRAPPED = re.compile(r"[A-Za-z_][\w.]*\((.*)\)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _add(curves: Curves, step: float, metrics: dict[str, object]) -> None:
    for key, value in metrics.items():
        number = _number(value)
        if number is not None:
            curves.setdefault(key, {})[step] = number


def _json_lines(path: str | Path) -> Iterator[Any]:
    """The JSON values of a log's lines; a line that is not JSON (a trainer's other output) is skipped."""
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def read_swift_log(path: str | Path, curves: Curves | None = None) -> Curves:
    curves = {} if curves is None else curves
    for row in _json_lines(path):
        if not isinstance(row, dict) or "last_model_checkpoint" in row:
            continue
        progress = str(row.get("global_step/max_steps", ""))
        if "/" not in progress:
            continue
        try:
            step = float(progress.split("/")[0])
        except ValueError:
            continue
        _add(curves, step, row)
    return curves


def read_verl_file_log(path: str | Path, curves: Curves | None = None) -> Curves:
    curves = {} if curves is None else curves
    for row in _json_lines(path):
        if (
            isinstance(row, dict)
            and isinstance(row.get("data"), dict)
            and _number(row.get("step")) is not None
        ):
            _add(curves, float(row["step"]), row["data"])
    return curves


def read_verl_console_log(path: str | Path, curves: Curves | None = None) -> Curves:
    curves = {} if curves is None else curves
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        match = _CONSOLE_LINE.search(line)
        if not match:
            continue
        metrics: dict[str, object] = {}
        for part in match.group(2).split(" - "):
            key, sep, text = part.partition(":")
            wrapped = _WRAPPED.fullmatch(text.strip())  # numpy 2 prints np.float64(0.5)
            number = _NUMBER.fullmatch(wrapped.group(1) if wrapped else text.strip()) if sep else None
            if number:
                metrics[key.strip()] = float(number.group(0))
        _add(curves, float(match.group(1)), metrics)
    return curves


def _is_verl_file_log(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = json.loads(handle.readline())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(first, dict) and "step" in first and isinstance(first.get("data"), dict)


def _sorted(paths: Iterable[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: (p.stat().st_mtime, str(p)))


def read_swift_stage(stage_dir: Path, log: Path | None) -> Curves:
    """Every ``logging.jsonl`` ms-swift wrote under the stage's output folder, oldest first."""
    curves: Curves = {}
    for path in _sorted(stage_dir.glob("output/**/logging.jsonl")):
        read_swift_log(path, curves)
    return curves


def read_verl_stage(stage_dir: Path, log: Path | None) -> Curves:
    """verl's file logs under the stage folder; without any, the console lines of the stage's log."""
    curves: Curves = {}
    files = [p for p in _sorted(stage_dir.rglob("*.jsonl")) if _is_verl_file_log(p)]
    for path in files:
        read_verl_file_log(path, curves)
    if not files and log is not None and log.is_file():
        read_verl_console_log(log, curves)
    return curves
