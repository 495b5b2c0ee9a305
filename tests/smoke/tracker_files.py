"""Read what the experiment trackers wrote, with the trackers' own formats (tests only).

- TensorBoard: its own event reader (tensorboard.backend.event_processing.event_accumulator).
- wandb offline: the run's ``run-<id>.wandb`` file. wandb 0.31 ships no Python reader for it any
  more (its Go core reads it), so the framing is read here: wandb's LevelDB-log layout (a 7-byte
  header ``:W&B``, magic 0xBEE1, version 0; then 32 KiB blocks of records, each with a 7-byte
  header: CRC-32C, length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4), and every record is decoded
  with wandb's own protobuf schema (wandb.proto.wandb_internal_pb2.Record). A file cut short by a
  SIGKILL ends at its last complete record.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def tensorboard_scalars(logdir: Path, tag: str) -> dict[int, float]:
    """step -> value of one scalar tag over every event file in `logdir` (a later write wins)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values: dict[int, float] = {}
    for events in sorted(logdir.rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            values.update({event.step: event.value for event in accumulator.Scalars(tag)})
    return values


def _chunks(data: bytes) -> Iterator[bytes]:
    ident, magic, version = struct.unpack("<4sHB", data[:_HEADER])
    if (ident, magic, version) != (b":W&B", 0xBEE1, 0):
        raise ValueError(f"not a .wandb file (header {data[:_HEADER]!r})")
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # the block's tail is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if kind == 0 and length == 0:  # zero padding
            pos += left
            continue
        if pos + _HEADER + length > len(data):
            return  # cut short
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield pending + chunk
            pending = b""
        else:
            raise ValueError(f"unknown record type {kind} at byte {pos}")


def wandb_records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    for chunk in _chunks(path.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        yield record


def wandb_run(path: Path) -> Any:
    """The run record: project, display_name, run_group, run_id."""
    return next(r.run for r in wandb_records(path) if r.WhichOneof("record_type") == "run")


def wandb_history(path: Path) -> list[dict[str, Any]]:
    """Every logged row, as wandb.log received it."""
    rows = []
    for record in wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows
