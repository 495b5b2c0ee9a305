"""Streaming output writers: jsonl line by line, parquet in row groups of a fixed size.

Both write to ``<name>.partial`` and rename on ``commit()``, so a stage that fails leaves no
half-written file under the final name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["JsonlWriter", "ParquetRowWriter", "open_writer"]


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.rows = 0
        self._handle = open(self.partial, "w", encoding="utf-8")

    def write(self, row: dict[str, Any] | str) -> None:
        """Write a row; a string is taken as the row's JSON already encoded."""
        self._handle.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
        self._handle.write("\n")
        self.rows += 1

    def commit(self) -> None:
        self._handle.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        self._handle.close()
        self.partial.unlink(missing_ok=True)


class ParquetRowWriter:
    """Buffers at most ``row_group_size`` rows, then writes them as one row group."""

    def __init__(self, path: Path, schema: Any, row_group_size: int = 512) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.schema = schema
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._row_group_size = row_group_size
        self._writer = pq.ParquetWriter(str(self.partial), schema)

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
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        self._buffer = []
        self._writer.close()
        self.partial.unlink(missing_ok=True)


def open_writer(path: Path, parquet_schema: Any = None) -> JsonlWriter | ParquetRowWriter:
    if path.suffix == ".parquet":
        if parquet_schema is None:
            raise ValueError(f"{path.name}: a parquet output needs a schema from its converter")
        return ParquetRowWriter(path, parquet_schema)
    return JsonlWriter(path)
