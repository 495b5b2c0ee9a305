"""Synthetic run directories in the harness's layout, for report tests.

``manifest.json`` follows harness/manifest.py (paper, run_name, stages with name, kind, status,
stage_dir, outputs, log); eval stages get ``metrics.json`` (the eval stage's schema) and optionally
``predictions.jsonl``; training stages get the trainers' own log files:

- ``data/swift_sft_logging.jsonl`` is a real ``logging.jsonl`` written by ``swift sft`` (ms-swift
  4.6.0, LoRA, 4 steps, the tiny Qwen2.5-VL on CPU);
- ``data/swift_grpo_logging.jsonl`` is a real one from ``swift rlhf --rlhf_type grpo`` (3 steps,
  reward function ``format``) on the same tiny model;
- verl logs are written in the two formats verl 0.9.1 produces (``FileLogger``: ``{"step", "data"}``
  lines; console: ``step:N - key:value - ...``), since verl GRPO cannot run on a CPU.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.evaluation.predictions import PredictionRow

DATA = Path(__file__).resolve().parent / "data"


def write_metrics(
    stage_dir: Path,
    values: dict[str, float | None],
    config: dict[str, Any] | None = None,
    counts: dict[str, int] | None = None,
) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "schema": "aigi-repro/eval-metrics/1",
        "manifest": "/m/eval.jsonl",
        "model": "/m/model",
        "n_images": 10,
        "n_predictions": 10,
        "complete": True,
        "config": config
        or {
            "backend": "transformers",
            "response_format": "think_tag_verdict",
            "sampling": {"temperature": 0.0},
            "max_new_tokens": 64,
            "robustness": None,
            "soft_scoring": {"enabled": True, "position": "answer"},
        },
        "values": values,
        "counts": counts or {"n": 10, "unparsable": 1},
        "notes": {},
        "soft_scoring": None,
    }
    (stage_dir / "metrics.json").write_text(json.dumps(document, indent=2))


def write_predictions(stage_dir: Path, rows: Iterable[PredictionRow]) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    (stage_dir / "predictions.jsonl").write_text("".join(r.to_json() + "\n" for r in rows))


def verl_file_log(path: Path, steps: int = 5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "step": s,
            "data": {
                "critic/score/mean": -1.0 + 0.3 * s,
                "actor/pg_loss": 0.5 / s,
                "response_length/mean": 100.0 + s,
                "training/global_step": s,
            },
        }
        for s in range(1, steps + 1)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def verl_console_log(path: Path, steps: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["(TaskRunner pid=4242) some start-up noise"]
    for s in range(1, steps + 1):
        lines.append(
            f"(TaskRunner pid=4242) step:{s} - critic/score/mean:np.float64({0.1 * s}) - "
            f"actor/pg_loss:{-0.01 * s} - acc:{0.2 * s} - timing_s/gen:1.5"
        )
    path.write_text("\n".join(lines) + "\n")


def make_run(
    root: Path,
    name: str,
    paper: str,
    stages: list[tuple[str, str, str]],
    metrics: dict[str, dict[str, float | None]] | None = None,
    predictions: dict[str, list[PredictionRow]] | None = None,
    swift_logs: dict[str, str] | None = None,
    verl: dict[str, str] | None = None,
    results: dict[str, Any] | None = None,
) -> Path:
    """stages: (name, kind, status); swift_logs: stage -> data file; verl: stage -> "file" | "console"."""
    run = root / name
    run.mkdir(parents=True, exist_ok=True)
    records = []
    for stage, kind, status in stages:
        stage_dir = run / stage
        stage_dir.mkdir(exist_ok=True)
        log = run / "logs" / f"{stage}.node0.log"
        records.append(
            {
                "name": stage,
                "kind": kind,
                "status": status,
                "stage_dir": str(stage_dir),
                "outputs": {"primary": str(stage_dir)},
                "log": str(log),
                "seconds": 12.5,
            }
        )
        if stage in (metrics or {}):
            write_metrics(stage_dir, metrics[stage])  # type: ignore[index]
        if stage in (predictions or {}):
            write_predictions(stage_dir, predictions[stage])  # type: ignore[index]
        if stage in (swift_logs or {}):
            (stage_dir / "output").mkdir(exist_ok=True)
            shutil.copy(DATA / swift_logs[stage], stage_dir / "output" / "logging.jsonl")  # type: ignore[index]
        if (verl or {}).get(stage) == "file":
            verl_file_log(stage_dir / "verl_logs" / "aigi-repro" / "exp.jsonl")
        elif (verl or {}).get(stage) == "console":
            verl_console_log(log)
    manifest = {
        "paper": paper,
        "run_name": name,
        "run_dir": str(run),
        "profile": "smoke",
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "stages": records,
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if results is not None:
        import yaml

        (run / "config.yaml").write_text(yaml.safe_dump({"paper": {"name": paper}, "results": results}))
    return run
