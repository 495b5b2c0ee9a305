"""Helpers for the tests that write records exactly as the papers' datasets publish them and run
them through ``python -m data_prep convert`` and the trainers' own loaders."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import run_cli


def png_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    pixels = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path, seed: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(seed, size))
    return path


def write_jsonl(path: Path, rows: list, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + newline for r in rows)
    path.write_bytes(text.encode("utf-8"))
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def convert(
    source: str, inputs: list[Path], out: Path, options: dict | None = None
) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``python -m data_prep convert`` as the pipeline runs it; (the process, stats.json or None)."""
    argv = ["convert", "--source", source, "--output-dir", str(out)]
    for path in inputs:
        argv += ["--input", str(path)]
    if options:
        argv += ["--options", json.dumps(options)]
    result = run_cli(*argv)
    stats_file = out / "stats.json"
    return result, json.loads(stats_file.read_text()) if stats_file.is_file() else None


def converted(source: str, inputs: list[Path], out: Path, options: dict | None = None) -> dict:
    """A conversion that must succeed; its stats, with records in = out + rejected checked."""
    result, stats = convert(source, inputs, out, options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stats is not None and stats["error"] is None
    assert stats["read"] == stats["converted"] + stats["rejected_total"] > 0
    rejected_lines = (out / "rejects.jsonl").read_text().splitlines()
    assert len(rejected_lines) == stats["rejected_total"]
    assert f"read {stats['read']}, converted {stats['converted']}" in result.stdout
    return stats


def rejects(out: Path) -> list[dict]:
    return rows(out / "rejects.jsonl")


def swift_load(path: Path, **kwargs):
    """The pinned ms-swift's own dataset loader (what `swift sft --dataset <path>` runs)."""
    from swift.dataset import load_dataset

    dataset, _ = load_dataset([str(path)], **kwargs)
    return dataset


def verl_parquet(path: Path):
    """A parquet file read as verl's RLHFDataset reads it: datasets.load_dataset("parquet")["train"]."""
    import datasets

    return datasets.load_dataset("parquet", data_files=str(path))["train"]
