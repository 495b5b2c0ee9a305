"""AIGI-Holmes' visual expert on the real two-node Slurm cluster (conftest.slurm_cluster): the
expert_train stage, submitted by the harness with `cluster=slurm` like any training stage, runs as
one data-parallel job over both nodes (one CPU process per node, gloo), formed by the program's own
torchrun from the launcher's NNODES / NODE_RANK / MASTER_ADDR contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

pytestmark = pytest.mark.slow


def test_expert_training_spans_both_slurm_nodes(slurm_cluster, tmp_path: Path) -> None:
    stages = "[tiny_clip,synth_data,synth_testset,prepare_testset,prepare_expert_train,expert_train]"
    argv = [sys.executable, "-m", "harness", "paper=aigi_holmes", "profile=smoke", "cluster=slurm",
            "cluster.gpus_per_node=0", "cluster.nnodes=2", "stages.sft.per_device_train_batch_size=1",
            "stages.dpo.per_device_train_batch_size=1", "cluster.slurm.poll_interval_s=0.5",
            f"paths.runs={tmp_path}", "run_name=expert", f"stages={stages}", "submit=true", "wait=true"]  # fmt: skip
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, env=slurm_cluster.environ(), capture_output=True, text=True, timeout=900
    )
    run = tmp_path / "aigi_holmes" / "expert"
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    script = (run / "slurm" / "expert_train.sbatch").read_text()
    assert "#SBATCH --nodes=2" in script and "python3 -m expert train" in script
    logs = "".join(p.read_text() for p in sorted((run / "logs").glob("expert_train.node*.log")))
    assert "2 process(es) x batch 2 on cpu" in logs, logs[-3000:]
    assert (run / "expert_train" / "final" / "adapter_model.safetensors").is_file()
    epochs = [json.loads(x) for x in (run / "expert_train" / "metrics.jsonl").read_text().splitlines()]
    assert epochs and "accuracy" in epochs[-1]["val"]
