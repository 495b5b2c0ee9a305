"""The conversion stage: stream a source's records through worker processes into the output files.

Records are read lazily, sent to workers in chunks with a bounded number of chunks in flight, and
their results come back in input order; so memory is constant in the number of records and the
output is identical for any number of workers. Each record is either converted (its rows are
written) or rejected (one line in ``rejects.jsonl``); ``stats.json`` holds the counts and
``read == converted + rejected`` is checked before the stage reports success. Sources whose
records are images (FakeXplained, the test sets) also reject a repeated record id; only the ids
are kept for that, never the records.

``workers=1`` converts in the calling process (no pool); ``workers=N>1`` uses N processes started
with ``forkserver`` (forking a process that already loaded torch or started threads is unsafe).

Nothing is silent: the stage fails (StageFailed, after writing ``stats.json`` and a complete
``rejects.jsonl``, with no data files) when its inputs held no record, when no record could be
converted, when an input file was cut short (a JSON array without its ``]``: the message names the
byte offset), or in strict mode when any record was rejected. What a source skipped on purpose
(non-image files, other splits) is printed with the counts.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from data_prep.readers import TruncatedInput
from data_prep.records import REJECT_REASONS, Converted, RawRecord, RecordRejected
from data_prep.source_api import parse_options
from data_prep.sources import source_module
from data_prep.writers import JsonlWriter, open_writer

__all__ = ["StageFailed", "run_conversion", "convert_records"]

REJECTS_FILE = "rejects.jsonl"
STATS_FILE = "stats.json"
_FIRST_REASONS_SHOWN = 10


class StageFailed(RuntimeError):
    """The stage did not produce its outputs (strict mode with rejects, or a converter error)."""


# Per-process state of a worker: the source module and its parsed options.
_WORKER: dict[str, Any] = {}


def _init_worker(source: str, options: Any) -> None:
    _WORKER["module"] = source_module(source)
    _WORKER["options"] = options


def _encode_jsonl_rows(converted: Converted) -> Converted:
    # Serializing in the worker keeps the main process (the stage's bottleneck) to plain writes.
    for name, rows in converted.rows.items():
        if name.endswith(".jsonl"):
            converted.rows[name] = [json.dumps(row, ensure_ascii=False) for row in rows]
    return converted


def _convert_one(module: Any, options: Any, record: RawRecord) -> tuple:
    try:
        converted = module.convert(record, options)
        converted.location = record.location
        return ("ok", _encode_jsonl_rows(converted))
    except RecordRejected as rejected:
        return ("rejected", record.location, rejected.reason, rejected.detail)
    except Exception:  # a converter bug: stop the stage and name the record
        return ("error", record.location, traceback.format_exc())


def _convert_chunk(chunk: list[RawRecord]) -> list[tuple]:
    module, options = _WORKER["module"], _WORKER["options"]
    return [_convert_one(module, options, record) for record in chunk]


def _chunks(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    chunk: list[RawRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def convert_records(
    source: str,
    options: Any,
    records: Iterable[RawRecord],
    *,
    workers: int = 1,
    chunk_size: int = 32,
) -> Iterator[tuple]:
    """Yield one result per record, in input order: ("ok", Converted) | ("rejected", ...) | ("error", ...)."""
    if workers <= 1:
        module = source_module(source)
        for record in records:
            yield _convert_one(module, options, record)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["data_prep.conversion", source_module(source).__name__])
    max_in_flight = workers * 4
    with context.Pool(workers, initializer=_init_worker, initargs=(source, options)) as pool:
        pending: deque = deque()
        for chunk in _chunks(records, chunk_size):
            pending.append(pool.apply_async(_convert_chunk, (chunk,)))
            while len(pending) >= max_in_flight:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _until_truncated(records: Iterable[RawRecord], errors: list[str]) -> Iterator[RawRecord]:
    """The records, ending quietly at a cut input file (noted in ``errors``) so the stage can
    still count and record what it read before failing."""
    try:
        yield from records
    except TruncatedInput as error:
        errors.append(str(error))


def _options_for_stats(options: Any) -> dict[str, Any]:
    return asdict(options) if is_dataclass(options) else dict(options)


def _describe(stats: dict[str, Any]) -> str:
    lines = [
        f"data_prep convert {stats['source']}: read {stats['read']}, converted {stats['converted']}, "
        f"rejected {stats['rejected_total']} ({stats['seconds']:.1f} s, {stats['records_per_second']:.0f} records/s, "
        f"{stats['workers']} worker(s))"
    ]
    for name, rows in stats["written"].items():
        lines.append(f"  wrote {name}: {rows} rows")
    for reason, count in sorted(stats["rejected"].items(), key=lambda item: -item[1]):
        lines.append(f"  rejected {reason}: {count}  ({REJECT_REASONS.get(reason, '')})")
    for key, value in stats.get("routed", {}).items():
        lines.append(f"  routed {key}: {value}")
    for key, value in stats.get("warnings", {}).items():
        lines.append(f"  warning {key}: {value}")
    for key, value in (stats.get("skipped") or {}).items():
        if isinstance(value, (list, tuple)):
            shown = ", ".join(map(str, value[:5])) + (", ..." if len(value) > 5 else "")
            value = f"{len(value)} ({shown})"
        lines.append(f"  skipped {key}: {value}")
    return "\n".join(lines)


def _failure(
    source: str, inputs: list, expected: str, read: int, converted: int, rejected_total: int,
    strict: bool, input_errors: list[str], first_rejects: list[str], rejects_path: Path,
) -> str | None:  # fmt: skip
    """Why the stage fails (None: it succeeded)."""
    shown = "\n  ".join(first_rejects)
    if input_errors:
        return "; ".join(input_errors) + f" (read {read} record(s) before the cut; see {rejects_path})"
    if read == 0:
        names = ", ".join(str(p) for p in inputs)
        return f"{source}: the input ({names}) holds no record" + (
            f"; expected {expected}" if expected else ""
        )
    if converted == 0:
        return (
            f"{source}: none of the {read} record(s) could be converted, so there is nothing to train or "
            f"evaluate on (see {rejects_path}). First reasons:\n  {shown}"
        )
    if strict and rejected_total > 0:
        return (
            f"strict mode: {rejected_total} record(s) rejected, no data files written "
            f"(see {rejects_path}). First reasons:\n  {shown}"
        )
    return None


def run_conversion(
    source: str,
    inputs: list[str | Path],
    output_dir: str | Path,
    *,
    options: dict[str, Any] | None = None,
    workers: int = 1,
    strict: bool = False,
    chunk_size: int = 32,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Convert ``inputs`` with source ``source`` into ``output_dir``; return the stats (also in stats.json).

    Raises StageFailed (the data files are not written; rejects.jsonl and stats.json are) when the
    inputs held no record, none could be converted, an input was cut short, or ``strict`` and any
    record was rejected; and when a converter raised an unexpected error.
    """
    started = time.perf_counter()
    module = source_module(source)
    parsed = parse_options(module.Options, options, source)
    prepared = module.prepare([Path(p) for p in inputs], parsed)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    output_names = tuple(prepared.outputs or module.OUTPUTS)
    writers = {name: open_writer(out / name, prepared.parquet_schemas.get(name)) for name in output_names}
    rejects = JsonlWriter(out / REJECTS_FILE)
    rejected: Counter = Counter()
    routed: Counter = Counter()
    labels: Counter = Counter()
    warnings: Counter = Counter()
    first_rejects: list[str] = []
    seen_ids: set[str] = set()
    input_errors: list[str] = []
    read = converted = 0
    records = _until_truncated(prepared.records, input_errors)
    try:
        for result in convert_records(source, parsed, records, workers=workers, chunk_size=chunk_size):
            read += 1
            kind = result[0]
            if kind == "ok" and prepared.unique_ids:
                if result[1].record_id in seen_ids:
                    duplicate = result[1]
                    result = ("rejected", duplicate.location, "duplicate_id",
                              f"{duplicate.location}: record id {duplicate.record_id!r} appeared before")  # fmt: skip
                    kind = "rejected"
                else:
                    seen_ids.add(result[1].record_id)
            if kind == "ok":
                item: Converted = result[1]
                converted += 1
                labels[item.label or "none"] += 1
                warnings.update(item.warnings)
                targets = prepared.route(item)
                if item.split is not None:
                    routed[item.split] += 1
                for name, rows in item.rows.items():
                    if name not in writers:
                        raise StageFailed(
                            f"{source} converter produced rows for {name}, not an output of this stage"
                        )
                    if targets is not None and name not in targets:
                        continue
                    for row in rows:
                        writers[name].write(row)
            elif kind == "rejected":
                _, location, reason, detail = result
                rejected[reason] += 1
                rejects.write({"location": location, "reason": reason, "detail": detail})
                if len(first_rejects) < _FIRST_REASONS_SHOWN:
                    first_rejects.append(f"{location}: {reason}: {detail}")
            else:
                _, location, trace = result
                raise StageFailed(f"{source} converter failed on {location} (a bug, not bad input):\n{trace}")
    except BaseException:
        for writer in writers.values():
            writer.discard()
        rejects.commit()
        raise
    rejected_total = sum(rejected.values())
    failure = _failure(source, list(inputs), prepared.expected, read, converted, rejected_total, strict,
                       input_errors, first_rejects, out / REJECTS_FILE)  # fmt: skip
    failed = failure is not None
    for writer in writers.values():
        writer.discard() if failed else writer.commit()
    rejects.commit()
    seconds = time.perf_counter() - started
    stats: dict[str, Any] = {
        "source": source,
        "inputs": [str(p) for p in inputs],
        "read": read,
        "converted": converted,
        "rejected": dict(rejected),
        "rejected_total": rejected_total,
        "written": {} if failed else {name: writer.rows for name, writer in writers.items()},
        "labels": dict(labels),
        "routed": dict(routed),
        "warnings": dict(warnings),
        "workers": workers,
        "strict": strict,
        "seconds": seconds,
        "records_per_second": read / seconds if seconds > 0 else 0.0,
        "options": _options_for_stats(parsed),
        **prepared.info,
        "error": failure,
    }
    if read != converted + rejected_total:  # every record lands exactly once
        raise StageFailed(
            f"record accounting broken: read {read} != converted {converted} + rejected {rejected_total}"
        )
    tmp = out / (STATS_FILE + ".partial")
    tmp.write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / STATS_FILE)
    echo(_describe(stats))
    if failed:
        raise StageFailed(failure)
    return stats
