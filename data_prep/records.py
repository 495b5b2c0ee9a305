"""What a converter hands the stage runner for one source record: rows, or a reason to reject it.

Every source record ends in exactly one of two places: converted (its rows go to the output
files) or ``rejects.jsonl`` with one of the reasons below. The stage counts both, so
``read == converted + rejected`` can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["REJECT_REASONS", "RecordRejected", "Converted", "RawRecord"]

# reason -> what the user should change; the stage prints these next to the counts.
REJECT_REASONS: dict[str, str] = {
    "bad_encoding": "the line is not valid UTF-8: re-save the file as UTF-8",
    "bad_json": "the line is not valid JSON: fix or remove it",
    "bad_record": "the record is not a JSON object of the documented shape",
    "missing_field": "a required field is missing or empty: add it",
    "unknown_label": "the label is not one the source defines: use one of the listed labels",
    "image_missing": "the image file does not exist: fix the path or the image root",
    "image_corrupt": "the image cannot be decoded (truncated or corrupt): replace the file",
    "image_not_resizable": "the image is too small or too elongated (aspect ratio over 200) for Qwen2.5-VL's resize",
    "box_invalid": "a box is not four finite numbers [x1, y1, x2, y2]",
    "box_degenerate": "a box has zero or negative width or height (x1 >= x2 or y1 >= y2)",
    "box_outside_image": "a box lies outside the image: coordinates must be original-image pixels",
    "empty_description": "a region has an empty description",
    "objects_mismatch": "objects.ref and objects.bbox have different lengths",
    "unknown_tag": "a tag is not one of the six FakeXplained tags (002 App. B)",
    "real_with_regions": "a real image carries fake regions",
    "size_mismatch": "the recorded width/height differ from the image file",
    "media_mismatch": "the number of <image> tags differs from the number of images",
    "empty_response": "a response is empty",
    "duplicate_id": "an earlier record has the same id (ids key the evaluation): keep one record per image",
    "dpo_pair_identical": "rejected_response equals the chosen response (ms-swift refuses such pairs)",
    "no_kept_pairs": "the record has no instruction of the type the converter option `only` keeps",
}


class RecordRejected(Exception):
    """Raised by a converter for a record it cannot convert; ``reason`` is a key of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}; add it to REJECT_REASONS")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RawRecord:
    """One unparsed source record: where it came from and its text (or bytes, if undecodable)."""

    location: str  # "file:line" or a path; used in rejects.jsonl and error messages
    payload: Any
    base_dir: str = ""  # the folder relative image paths resolve against
    ordinal: int = 0  # position in the input stream (0-based); a stable index for verl's uid


@dataclass
class Converted:
    """The rows one record produces, keyed by output file name (``sft.jsonl``, ``grpo.parquet``...)."""

    record_id: str
    label: str | None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    split: str | None = None  # set by the stage's routing (e.g. a fold's train/test), for the stats
    location: str = ""  # the source record's location, filled in by the stage
