"""The dry run shows what will be submitted: cluster=slurm prints each stage's sbatch script byte for
byte as the run writes it, cluster=torchrun every node's launch line; nothing is written.

Golden files: tests/harness/golden/ (README there says how to regenerate them)."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from harness.cli import main
from tests.golden import assert_matches_golden

GOLDEN = Path(__file__).parent / "golden"
# One stage per launch mode (torchrun, ray, single); fixed paths so the text is the same anywhere.
COMMON = ["paper=fake_hr1", "dry_run=true", "run_name=demo", "stages=[sft,grpo,eval]", "paths.repo=/repo"]
CASES = {
    "fake_hr1_slurm": ["cluster=slurm", "cluster.nnodes=2", "cluster.slurm.partition=gpu"],
    "fake_hr1_torchrun": [
        "cluster=torchrun",
        "cluster.nnodes=2",
        "cluster.master_addr=10.0.0.1",
        "cluster.python=/opt/venv/bin/python",
    ],
}


def _dry_run(args: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("NNODES", "WORLD_SIZE", "NODE_RANK", "RANK", "MASTER_ADDR", "MASTER_PORT", "NPROC_PER_NODE"):
        monkeypatch.delenv(name, raising=False)
    # The nodes' interpreter is the GPU set's (.venv-gpu) as seen from a CPU machine.
    monkeypatch.setattr("common.gpu_env.environment_set", lambda: "cpu")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(args)
    assert rc == 0, err.getvalue()
    return out.getvalue()


def _stages(text: str) -> str:
    """The stage sections (the pre-flight after them depends on this machine's RAM and disk)."""
    return text.split("# pre-flight:", 1)[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_dry_run_matches_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _stages(_dry_run([*COMMON, *CASES[name]], monkeypatch))
    assert_matches_golden(text, GOLDEN / f"{name}.txt", "tests/harness/test_dry_run_scripts.py")


def test_torchrun_dry_run_prints_every_nodes_line(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _dry_run([*COMMON, *CASES["fake_hr1_torchrun"]], monkeypatch)
    sections = dict(re.findall(r"# stage: (\w+)\n(.*?)(?=# stage: |# pre-flight:)", text, re.S))
    for stage in ("sft", "grpo", "eval"):
        assert "# node 0:\n" in sections[stage] and "# node 1:\n" in sections[stage], stage
    assert "NODE_RANK=1 " in sections["sft"]
    assert "--node-ip-address=10.0.0.1 " in sections["grpo"]  # not --node-ip-address=--node-ip-...
    assert "start --address=10.0.0.1:6379 " in sections["grpo"]
    assert "runs on node 0 only" in sections["eval"]


def test_slurm_dry_run_prints_the_scripts_the_run_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run's text after each `# stage:` line is the file the run (submit=false) writes."""
    args = ["paper=fakexplain", "profile=smoke", "cluster=slurm", "run_name=t", f"paths.runs={tmp_path}"]
    dry = _dry_run([*args, "dry_run=true"], monkeypatch)
    assert not (tmp_path / "fakexplain").exists()  # the dry run wrote nothing
    _dry_run(args, monkeypatch)  # submit=false: writes the scripts, submits nothing
    scripts = sorted((tmp_path / "fakexplain" / "t" / "slurm").glob("*.sbatch"))
    assert len(scripts) >= 8
    for script in scripts:
        section = f"# stage: {script.stem}\n{script.read_text()}"
        assert f"{section}# stage: " in dry or f"{section}# pre-flight:" in dry, script.name
