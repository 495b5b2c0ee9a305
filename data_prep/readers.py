"""Streaming readers for the source files: jsonl lines and the items of a top-level JSON array.

Readers yield raw bytes; parsing happens in the worker processes (``parse_json_object``), so a
line that is not UTF-8 or not JSON becomes a reject of that record, not a crash of the stage.
Memory stays constant in the number of records: a JSON array is split item by item without
loading the file.

A JSON array that ends before its closing ``]`` (a cut download) yields the items it holds, its
cut last item as one more record (which then fails to parse and is rejected), and then raises
``TruncatedInput`` naming the byte offset; the conversion stage records what it read before it
fails (data_prep/conversion.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from data_prep.records import RawRecord, RecordRejected

__all__ = [
    "TruncatedInput",
    "iter_files",
    "iter_jsonl",
    "iter_json_array",
    "iter_json_records",
    "parse_json_object",
]

_READ_SIZE = 1 << 20


class TruncatedInput(ValueError):
    """A file ended in the middle of its records (a JSON array without its closing ``]``)."""

    def __init__(self, path: Path, offset: int, items: int) -> None:
        super().__init__(
            f"{path}: the JSON array is not closed: the file ends at byte {offset}, after {items} complete "
            "item(s), without its closing ']'; the file is truncated: download or copy it again"
        )
        self.path = path
        self.offset = offset
        self.items = items


def iter_jsonl(path: Path, start_ordinal: int = 0, *, base_dir: str | None = None) -> Iterator[RawRecord]:
    """One RawRecord per non-blank line, payload = the line's bytes, location = ``path:line``.

    ``base_dir`` is the folder the records' relative image paths resolve against (default: the
    file's own folder).
    """
    base = base_dir or str(path.resolve().parent)
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
    unquoted word, a bad number) stays one item and becomes one reject. A file that ends inside
    the array yields its cut last item (if any) and raises TruncatedInput.
    """
    depth = 0
    in_string = False
    skip_at = -1  # absolute offset of a byte escaped by a backslash
    started = False
    item = bytearray()
    offset = 0
    complete = 0  # items yielded
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
                        complete += 1
                    item = bytearray()
                    pos = index + 1
            item += block[pos:]
            offset += len(block)
    if started:
        if item.strip():
            yield bytes(item)  # the cut item: one more record, rejected when it fails to parse
        raise TruncatedInput(path, offset, complete)
    raise ValueError(f"{path}: empty file, expected a JSON array")


def iter_json_array(
    path: Path, start_ordinal: int = 0, *, base_dir: str | None = None
) -> Iterator[RawRecord]:
    base = base_dir or str(path.resolve().parent)
    for index, payload in enumerate(_json_array_items(path)):
        yield RawRecord(
            location=f"{path}[{index}]", payload=payload, base_dir=base, ordinal=start_ordinal + index
        )


def _looks_like_array(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def iter_json_records(
    path: Path, start_ordinal: int = 0, *, base_dir: str | None = None
) -> Iterator[RawRecord]:
    """Records of a ``.json`` file holding an array, or of a jsonl file (whatever its suffix)."""
    if _looks_like_array(path):
        return iter_json_array(path, start_ordinal, base_dir=base_dir)
    return iter_jsonl(path, start_ordinal, base_dir=base_dir)


def iter_files(
    files: Iterable[Path],
    reader: Callable[..., Iterator[RawRecord]] = iter_json_records,
    *,
    base_dir: Callable[[Path], str] | None = None,
) -> Iterator[RawRecord]:
    """The records of several files in order, numbered by one running ordinal.

    ``base_dir(path)`` gives the folder a file's relative image paths resolve against (default:
    the file's own folder).
    """
    ordinal = 0
    for path in files:
        records = (
            reader(path, ordinal) if base_dir is None else reader(path, ordinal, base_dir=base_dir(path))
        )
        for record in records:
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
    # Without its line ending: a jsonl line cut after a comma would otherwise be reported at
    # "line 2, column 1" (past the CR LF / LF) instead of where the line really ends.
    text = text.rstrip("\r\n")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        where = (
            f"column {error.colno}"
            if error.lineno == 1
            else f"line {error.lineno} column {error.colno} of the item"
        )
        raise RecordRejected("bad_json", f"{record.location}: {error.msg} at {where}") from None
    if not isinstance(value, dict):
        raise RecordRejected(
            "bad_record", f"{record.location}: expected a JSON object, got {type(value).__name__}"
        )
    return value
