"""Streaming readers for the source files: jsonl lines and the items of a top-level JSON array.

Readers yield raw bytes; parsing happens in the worker processes (``parse_json_object``), so a
line that is not UTF-8 or not JSON becomes a reject of that record, not a crash of the stage.
Memory stays constant in the number of records: a JSON array is split item by item without
loading the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from data_prep.records import RawRecord, RecordRejected

__all__ = ["iter_files", "iter_jsonl", "iter_json_array", "iter_json_records", "parse_json_object"]

_READ_SIZE = 1 << 20


def iter_jsonl(path: Path, start_ordinal: int = 0) -> Iterator[RawRecord]:
    """One RawRecord per non-blank line, payload = the line's bytes, location = ``path:line``."""
    base = str(path.resolve().parent)
    ordinal = start_ordinal
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield RawRecord(location=f"{path}:{line_number}", payload=line, base_dir=base, ordinal=ordinal)
            ordinal += 1


_SPECIAL = re.compile(rb'["\\\[\]{},]')
_BOM = b"\xef\xbb\xbf"


def _json_array_items(path: Path) -> Iterator[bytes]:
    """The bytes of each item of a top-level JSON array, scanning the file block by block.

    Only string quotes, escapes, brackets and commas are looked at, so one malformed item (an
    unquoted word, a bad number) stays one item and becomes one reject.
    """
    depth = 0
    in_string = False
    skip_at = -1  # absolute offset of a byte escaped by a backslash
    started = False
    item = bytearray()
    offset = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_READ_SIZE)
            if not block:
                break
            pos = 0
            if not started:
                stripped = block.lstrip(_BOM + b" \t\r\n") if offset == 0 else block.lstrip(b" \t\r\n")
                if not stripped:
                    offset += len(block)
                    continue
                if not stripped.startswith(b"["):
                    raise ValueError(f"{path}: expected a JSON array ('[' first), found {stripped[:20]!r}")
                started = True
                pos = len(block) - len(stripped) + 1
            for match in _SPECIAL.finditer(block, pos):
                index = match.start()
                if offset + index == skip_at:
                    continue
                char = block[index]
                if in_string:
                    if char == 0x5C:  # backslash
                        skip_at = offset + index + 1
                    elif char == 0x22:  # quote
                        in_string = False
                    continue
                if char == 0x22:
                    in_string = True
                elif char in (0x7B, 0x5B):  # { [
                    depth += 1
                elif char in (0x7D, 0x5D):  # } ]
                    if depth == 0:
                        if char == 0x5D:
                            item += block[pos:index]
                            if item.strip():
                                yield bytes(item)
                            return
                    else:
                        depth -= 1
                elif char == 0x2C and depth == 0:  # comma between items
                    item += block[pos:index]
                    if item.strip():
                        yield bytes(item)
                    item = bytearray()
                    pos = index + 1
            item += block[pos:]
            offset += len(block)
    if started:
        raise ValueError(f"{path}: the JSON array is not closed (file truncated?)")
    raise ValueError(f"{path}: empty file, expected a JSON array")


def iter_json_array(path: Path, start_ordinal: int = 0) -> Iterator[RawRecord]:
    base = str(path.resolve().parent)
    for index, payload in enumerate(_json_array_items(path)):
        yield RawRecord(
            location=f"{path}[{index}]", payload=payload, base_dir=base, ordinal=start_ordinal + index
        )


def _looks_like_array(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def iter_json_records(path: Path, start_ordinal: int = 0) -> Iterator[RawRecord]:
    """Records of a ``.json`` file holding an array, or of a jsonl file (whatever its suffix)."""
    if _looks_like_array(path):
        return iter_json_array(path, start_ordinal)
    return iter_jsonl(path, start_ordinal)


def iter_files(
    files: Iterable[Path], reader: Callable[[Path, int], Iterator[RawRecord]] = iter_json_records
) -> Iterator[RawRecord]:
    """The records of several files in order, numbered by one running ordinal."""
    ordinal = 0
    for path in files:
        for record in reader(path, ordinal):
            ordinal = record.ordinal + 1
            yield record


def parse_json_object(record: RawRecord) -> dict[str, Any]:
    """Decode a record's bytes into a dict, or reject it as bad_encoding / bad_json / bad_record."""
    payload = record.payload
    if isinstance(payload, (bytes, bytearray)):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as error:
            raise RecordRejected("bad_encoding", f"{record.location}: {error}") from None
        text = text.lstrip("\ufeff")
    else:
        text = payload
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordRejected("bad_json", f"{record.location}: {error.msg} at column {error.colno}") from None
    if not isinstance(value, dict):
        raise RecordRejected(
            "bad_record", f"{record.location}: expected a JSON object, got {type(value).__name__}"
        )
    return value
