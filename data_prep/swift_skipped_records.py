"""ms-swift plugin: name every training row that ms-swift leaves out for being longer than max_length.

With truncation_strategy=delete (ms-swift 4.6's default for `swift sft`; FakeXplain's GRPO recipe
sets it too) a row longer than max_length makes `Template.encode` raise `MaxLengthError`, and
ms-swift says nothing: it drops the row when it encodes the dataset up front (`EncodePreprocessor`,
ignore_max_length_error) and, when it encodes lazily (`LazyLLMDataset`, the default with images),
trains on another randomly drawn row in its place. The runs of a table would then train on
different mixes without a word (a label-only target is far shorter than a full explanation).

Loaded with `--external_plugins <this file>` (harness/render/swift.py adds it to every training
stage) and with AIGI_SKIPPED_RECORDS naming a file, it wraps `Template.encode`: each MaxLengthError
appends one JSON line (the row's images, a digest of its messages, the lengths ms-swift gave) and
is raised again, so ms-swift does what it did before. `python -m harness.finalize swift` counts the
distinct rows once the stage ends. ms-swift imports plugins again in its dataloader workers; each
process appends whole lines to the file (O_APPEND), and the mark that the patch is in place lives
on the patched function, not in this module (ms-swift imports the file under another name).

Nothing from the project is imported here (ms-swift loads the file by path), and swift only in
`apply()`. Imported as `data_prep.swift_skipped_records` (the harness reads its constants) it patches
nothing, whatever the environment: a harness started from a stage's environment, where
AIGI_SKIPPED_RECORDS is set, must still render without importing ms-swift.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from typing import Any

__all__ = ["SKIPPED_ENV", "SKIPPED_FILE", "REASON", "apply", "record_of"]

SKIPPED_ENV = "AIGI_SKIPPED_RECORDS"
SKIPPED_FILE = "skipped_records.jsonl"  # in the stage's folder (harness/render/swift.py)
REASON = "longer_than_max_length"
_MARK = "_aigi_records_skipped_rows"
_LENGTHS = re.compile(r"row\((\d+)\).*max_length\((\d+)\)")


def _field(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return row.get(name)
    return getattr(row, name, None)


def _image_names(images: Any) -> list[str]:
    names = []
    for image in images or []:
        if isinstance(image, dict):
            image = image.get("path") or "<bytes>"
        names.append(image if isinstance(image, str) else f"<{type(image).__name__}>")
    return names


def record_of(row: Any, error: BaseException) -> dict[str, Any]:
    """The JSON line for one row ms-swift refused (a dict row, or its TemplateInputs)."""
    chosen = _field(row, "chosen")
    source = chosen if chosen is not None and _field(row, "messages") is None else row
    messages = _field(source, "messages") or []
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()
    found = _LENGTHS.search(str(error))
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return {
        "reason": REASON,
        "length": int(found.group(1)) if found else None,
        "max_length": int(found.group(2)) if found else None,
        "images": _image_names(_field(source, "images")),
        "messages_sha256": digest,
        "user": str(users[-1])[:200] if users else None,
    }


def _append(path: str, line: dict[str, Any]) -> None:
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def apply() -> bool:
    """Wrap ms-swift's Template.encode (once per process); False where ms-swift is not installed."""
    try:
        from swift.template import base
    except ImportError:
        return False
    encode = base.Template.encode
    if getattr(encode, _MARK, False):
        return True

    def encode_recording_skipped_rows(self: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return encode(self, inputs, *args, **kwargs)
        except base.MaxLengthError as error:
            path = os.environ.get(SKIPPED_ENV)
            if path:
                _append(path, record_of(inputs, error))
            raise

    setattr(encode_recording_skipped_rows, _MARK, True)
    base.Template.encode = encode_recording_skipped_rows
    return True


if __name__ != "data_prep.swift_skipped_records":
    # Loaded by file path (ms-swift --external_plugins), which also put this file's folder first on
    # sys.path, where data_prep's modules could shadow a library of the same name in the trainer.
    _HERE = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(os.path.abspath(p or ".")) != _HERE]
    if os.environ.get(SKIPPED_ENV):
        apply()
