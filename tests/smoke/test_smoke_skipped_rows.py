"""A real `swift sft` stage whose max_length leaves rows out: ms-swift 4.6 says nothing (it trains
another row in each one's place), the harness names them. The stage is run as the pipeline runs
it (the plugin and the environment the renderer adds, ms-swift loading the plugin by path), on the
tiny model and the smoke data; only max_length is lowered, under most rows' token counts, which
the test measures with ms-swift's own template first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

BASE = ["paper=fakexplain", "profile=smoke", "run_name=skip"]


def _harness(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "harness", *BASE, f"paths.runs={tmp_path}", *overrides]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


def _token_counts(run_dir: Path) -> list[int]:
    code = (
        "import json, sys\n"
        "from data_prep import cpu_compat\n"
        "cpu_compat.apply()\n"
        "import torch\n"
        "from swift.dataset import load_dataset\n"
        "from swift.model import get_model_processor\n"
        "from swift.template import get_template\n"
        "_, processor = get_model_processor(sys.argv[1], torch_dtype=torch.float32, load_model=False,\n"
        "                                   download_model=False)\n"
        "template = get_template(processor, template_type='qwen2_5_vl', max_length=100000)\n"
        "template.set_mode('train')\n"
        "rows, _ = load_dataset([sys.argv[2]])\n"
        "print(json.dumps([template.encode(r, return_length=True)['length'] for r in rows]))\n"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        str(run_dir / "tiny_model"),
        str(run_dir / "prepare_data" / "sft.jsonl"),
    ]
    # the smoke profile's frame (conf/profile_paper/smoke_fakexplain.yaml, MAX_PIXELS/MIN_PIXELS)
    env = {**os.environ, "MAX_PIXELS": "12544", "MIN_PIXELS": "3136"}
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_rows_over_max_length_are_named_after_a_real_sft_stage(tmp_path: Path) -> None:
    prepared = _harness(tmp_path, "stages=[tiny_model,synth_data,prepare_data]")
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-3000:]
    run_dir = tmp_path / "fakexplain" / "skip"
    counts = sorted(_token_counts(run_dir))
    limit = counts[len(counts) // 3]  # two rows in three are longer
    assert counts[0] <= limit < counts[-1]
    sft = _harness(tmp_path, "stages=[sft]", f"stages.sft.max_length={limit}", "stages.sft.max_steps=8")
    assert sft.returncode == 0, sft.stdout[-3000:] + sft.stderr[-3000:]
    summary = json.loads((run_dir / "sft" / "skipped_records.json").read_text())
    assert summary["rows"] >= 1 and summary["max_length"] == limit
    assert summary["training_rows"] == len(counts)
    assert all(limit < r["length"] <= counts[-1] for r in summary["records"])
    assert summary["times"] == len((run_dir / "sft" / "skipped_records.jsonl").read_text().splitlines())
    stage = {s["name"]: s for s in json.loads((run_dir / "manifest.json").read_text())["stages"]}["sft"]
    warning = (
        f"[harness] warning: ms-swift left out {summary['rows']} training row(s) of {len(counts)} longer"
    )
    assert warning in Path(stage["log"]).read_text()
    # the run's report says it too, in its own section and in report.json
    from harness.report.builder import build_report

    text = build_report([run_dir], tmp_path / "report", log=lambda _: None).read_text()
    assert "## Training rows left out" in text
    longest = max(r["length"] for r in summary["records"])
    assert (
        f"| skip | sft | ms-swift | {summary['rows']} of {len(counts)} | max_length={limit} | {longest} |"
        in text
    )
    [entry] = json.loads((tmp_path / "report" / "report.json").read_text())["skipped_rows"]
    assert (entry["stage"], entry["rows"], entry["max_length"]) == ("sft", summary["rows"], limit)
