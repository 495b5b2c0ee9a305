"""``predictions.jsonl``: one line per evaluated image, appended as results arrive.

A restarted eval reads the file, keeps every complete line, drops a torn last line (the process
was killed while writing it) and evaluates only the images whose id is not there yet. The config
the lines were produced with is stored next to them (``eval_config.json``); restarting with a
config that would change the answers is refused instead of mixing two evaluations in one file.

Line schema (``PredictionRow``; ``null`` where a value does not apply)::

    {"id", "image" (the file the model saw), "label", "generator", "family",
     "response" (raw text, response_prefix included), "parse_ok", "parse_error",
     "verdict" ("real"|"fake"|null), "boxes" [[x1,y1,x2,y2]...], "region_labels" [...], "tags" [...],
     "thinking" (bool|null), "p_fake" (float|null), "p_fake_logsumexp" (float|null),
     "soft_score_note" (why p_fake is null, or null), "gt_boxes", "gt_region_labels", "frame" [W, H]|null,
     "robustness" (name|null), "expert_p_fake" (float|null), "num_generated_tokens" (int|null),
     "seconds" (wall time of the batch / batch size)}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.atomic import write_json
from common.errors import HarnessError

__all__ = ["PredictionRow", "PredictionsFile", "ResumeConflict", "read_predictions"]

PREDICTIONS = "predictions.jsonl"
EVAL_CONFIG = "eval_config.json"


class ResumeConflict(HarnessError):
    """Existing predictions were produced with a different config."""


@dataclass
class PredictionRow:
    id: str
    image: str
    label: str
    generator: str | None
    family: str | None
    response: str
    parse_ok: bool
    parse_error: str | None
    verdict: str | None
    boxes: list[list[float]] = field(default_factory=list)
    region_labels: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    thinking: bool | None = None
    p_fake: float | None = None
    p_fake_logsumexp: float | None = None
    soft_score_note: str | None = None
    gt_boxes: list[list[float]] = field(default_factory=list)
    gt_region_labels: list[str] = field(default_factory=list)
    frame: list[int] | None = None
    robustness: str | None = None
    expert_p_fake: float | None = None
    num_generated_tokens: int | None = None
    seconds: float | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictionRow:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_predictions(path: str | Path) -> list[PredictionRow]:
    """Every complete line of a predictions file (a torn last line is ignored)."""
    return [PredictionRow.from_dict(row) for row in _complete_lines(Path(path))[0]]


def _complete_lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The parsed complete lines and the byte length they occupy."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    rows: list[dict[str, Any]] = []
    good_end = 0
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end == -1:
            break  # no newline: the last write was cut short
        chunk = data[start:end]
        try:
            row = json.loads(chunk)
        except (json.JSONDecodeError, UnicodeDecodeError):
            break  # a torn line followed by later appends is not expected; stop at the damage
        if isinstance(row, dict) and "id" in row:
            rows.append(row)
        start = good_end = end + 1
    return rows, good_end


class PredictionsFile:
    """The predictions of one eval output directory, opened for resuming and appending."""

    def __init__(self, output_dir: str | Path, config_record: dict[str, Any]):
        self.dir = Path(output_dir)
        self.path = self.dir / PREDICTIONS
        self.dir.mkdir(parents=True, exist_ok=True)
        self._check_config(config_record)
        rows, good_end = _complete_lines(self.path)
        if self.path.exists() and good_end < self.path.stat().st_size:
            # Cut the torn tail so the next append starts on a fresh line.
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
        self.done: dict[str, dict[str, Any]] = {str(r["id"]): r for r in rows}

    def _check_config(self, record: dict[str, Any]) -> None:
        config_path = self.dir / EVAL_CONFIG
        if config_path.exists() and self.path.exists() and self.path.stat().st_size > 0:
            previous = json.loads(config_path.read_text(encoding="utf-8"))
            changed = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
            if changed:
                raise ResumeConflict(
                    f"{self.path} holds predictions made with a different config (changed: {', '.join(changed)}); "
                    f"delete it to start over, or use another --output-dir"
                )
        write_json(config_path, record, sort_keys=True)

    def append(self, rows: Iterable[PredictionRow]) -> None:
        lines = [row.to_json() + "\n" for row in rows]
        if not lines:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        for line in lines:
            row = json.loads(line)
            self.done[str(row["id"])] = row

    def rows(self, ids: Iterable[str]) -> Iterator[PredictionRow]:
        for item_id in ids:
            if item_id in self.done:
                yield PredictionRow.from_dict(self.done[item_id])
