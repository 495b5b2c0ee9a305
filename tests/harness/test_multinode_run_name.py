"""Nodes started by hand (cluster=torchrun) each run the harness: a run name they generate is each
node's own start time, so node 0 and node 1 of one training job wrote to two run folders (each
rank's checkpoint shards under its own node's folder; node 1 waiting on data node 0 prepared in
the other). Without run_name, a multi-node torchrun run, table and sweep are refused on every
node; one node, Slurm (one submitting process) and a given run_name still go ahead."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from harness.cli import main
from launch import make_launcher

REFUSED = (
    "error: run_name: cluster=torchrun runs this pipeline from 2 harness processes, one per node, and "
    "each would name the run after its own start time (one run folder per node, a training job's "
    "checkpoints split between them): start every node with the same run_name=<name>"
)
TORCHRUN = [
    "paper=fakexplain",
    "profile=full",
    "dry_run=true",
    "cluster=torchrun",
    "cluster.master_addr=10.0.0.1",
]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NNODES", "WORLD_SIZE", "NODE_RANK", "RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("rank", ["0", "1"])
def test_a_generated_run_name_is_refused_on_every_hand_started_node(
    rank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NODE_RANK", rank)
    runs = f"paths.runs={tmp_path}"
    for extra in (["cluster.nnodes=2"], ["table=table4"], ["-m", "data.fold=0,1"]):
        nodes = ["cluster.nnodes=2"] if extra[0] != "cluster.nnodes=2" else []
        assert _run([*TORCHRUN, *nodes, *extra, runs])[0::2] == (2, REFUSED + "\n"), extra
    # the node count from the platform (NNODES) counts the same
    monkeypatch.setenv("NNODES", "2")
    assert _run([*TORCHRUN, "cluster.nnodes=null", runs])[0::2] == (2, REFUSED + "\n")
    assert list(tmp_path.iterdir()) == []


def test_every_node_given_one_run_name_plans_one_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = []
    for rank in ("0", "1"):
        monkeypatch.setenv("NODE_RANK", rank)
        rc, out, err = _run([*TORCHRUN, "cluster.nnodes=2", "run_name=r1", f"paths.runs={tmp_path}"])
        assert rc == 0, err
        folders.append(re.search(r"run: (\S+)", out).group(1))
    assert folders == [f"{tmp_path}/fakexplain/r1"] * 2


def test_one_process_per_run_needs_no_run_name(tmp_path: Path) -> None:
    runs = f"paths.runs={tmp_path}"
    assert _run([*TORCHRUN, "cluster.nnodes=1", runs])[0] == 0
    base = ["paper=fakexplain", "profile=full", "dry_run=true", runs]
    assert _run([*base, "cluster=slurm", "cluster.nnodes=2"])[0] == 0  # one submitting process
    assert _run([*base, "cluster=local"])[0] == 0


def test_each_launcher_says_how_many_harness_processes_walk_a_run() -> None:
    assert make_launcher({"launcher": "local"}).harness_processes() == 1
    assert make_launcher({"launcher": "slurm", "nnodes": 4}).harness_processes() == 1
    torchrun = {"launcher": "torchrun", "master_addr": "h"}
    assert make_launcher({**torchrun, "nnodes": 3}, environ={}).harness_processes() == 3
    assert make_launcher({**torchrun, "nnodes": None}, environ={"NNODES": "2"}).harness_processes() == 2
    assert make_launcher({**torchrun, "nnodes": None}, environ={}).harness_processes() == 1
