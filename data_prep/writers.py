"""Streaming output writers: jsonl line by line, parquet in row groups of a fixed size.

Both write to a temporary file next to the target (common.atomic.AtomicFile) and rename it on
``commit()``, so a stage that fails leaves no half-written file under the final name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.atomic import AtomicFile

__all__ = ["JsonlWriter", "ParquetRowWriter", "open_writer"]


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = AtomicFile(path)
        self.rows = 0
        self._handle = self._file.open("w")

    def write(self, row: dict[str, Any] | str) -> None:
        """Write a row; a string is taken as the row's JSON already encoded."""
        self._handle.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
        self._handle.write("\n")
        self.rows += 1

    def commit(self) -> None:
        self._file.commit()

    def discard(self) -> None:
        self._file.discard()


class ParquetRowWriter:
    """Buffers at most ``row_group_size`` rows, then writes them as one row group."""

    def __init__(self, path: Path, schema: Any, row_group_size: int = 512) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self._file = AtomicFile(path)
        self.schema = schema
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._row_group_size = row_group_size
        self._writer = pq.ParquetWriter(str(self._file.tmp), schema)

    def write(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= self._row_group_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self._buffer = []

    def commit(self) -> None:
        self._flush()
        self._writer.close()
        self._file.commit()

    def discard(self) -> None:
        self._buffer = []
        self._writer.close()
        self._file.discard()


def open_writer(path: Path, parquet_schema: Any = None) -> JsonlWriter | ParquetRowWriter:
    if path.suffix == ".parquet":
        if parquet_schema is None:
            raise ValueError(f"{path.name}: a parquet output needs a schema from its converter")
        return ParquetRowWriter(path, parquet_schema)
    return JsonlWriter(path)
