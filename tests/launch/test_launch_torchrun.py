"""cluster=torchrun: topology from config and environment; two hand-started nodes."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from launch_testlib import (
    HOSTILE,
    HOSTILE_ENV,
    PWNED,
    free_port,
    free_port_block,
    processes_mentioning,
    read_json,
)

from launch import Job, make_launcher
from launch.config import ClusterConfigError

TORCHRUN = {"launcher": "torchrun", "nnodes": None, "gpus_per_node": 0}


def _topology(cluster=None, **environ):
    return make_launcher({**TORCHRUN, **(cluster or {})}, environ=environ).topology()


def test_config_wins_over_environment():
    topo = _topology(
        {"nnodes": 2, "node_rank": 1, "master_addr": "10.0.0.1", "master_port": 1234},
        NNODES="2",
        NODE_RANK="3",
        MASTER_ADDR="x",
        MASTER_PORT="99",
    )
    assert (topo.nnodes, topo.node_rank, topo.master_addr, topo.master_port) == (2, 1, "10.0.0.1", 1234)


def test_a_node_count_the_environment_disagrees_with_is_refused():
    """A paper's cluster.nnodes=1 on a 2-node platform: node 0 trained alone, node 1 was refused
    only when it launched. Every node (and the dry run's display) now says so."""
    launcher = make_launcher(
        {**TORCHRUN, "nnodes": 1}, environ={"NNODES": "2", "NODE_RANK": "0", "MASTER_ADDR": "h"}
    )
    why = "NNODES=2 in this node's environment but cluster.nnodes=1; make them agree: cluster.nnodes=2 to use every node, or start the nodes with NNODES=1"
    with pytest.raises(ClusterConfigError) as raised:
        launcher.topology()
    assert str(raised.value) == why
    with pytest.raises(ClusterConfigError):
        launcher.command_line(Job("sft", ("swift", "sft"), mode="torchrun", nnodes=1), node_rank=0)
    # WORLD_SIZE may count processes (torch's meaning): only NNODES is compared
    assert _topology({"nnodes": 1}, WORLD_SIZE="16").nnodes == 1


def test_null_config_values_fall_back_to_the_environment():
    topo = _topology(NNODES="2", NODE_RANK="1", MASTER_ADDR="node0", MASTER_PORT="2345")
    assert (topo.nnodes, topo.node_rank, topo.master_addr, topo.master_port) == (2, 1, "node0", 2345)


def test_platform_variables_world_size_and_rank_count_nodes():
    # Fake-HR1's README: NNODES=$WORLD_SIZE NODE_RANK=$RANK.
    topo = _topology(WORLD_SIZE="4", RANK="2", MASTER_ADDR="h")
    assert (topo.nnodes, topo.node_rank, topo.master_port) == (4, 2, 29500)


def test_single_node_needs_nothing():
    topo = _topology()
    assert (topo.nnodes, topo.node_rank, topo.master_addr) == (1, 0, "127.0.0.1")


@pytest.mark.parametrize(
    "environ, match",
    [
        ({"NNODES": "2", "MASTER_ADDR": "h"}, "cluster.node_rank is null and neither NODE_RANK nor RANK"),
        ({"NNODES": "2", "NODE_RANK": "1"}, "cluster.master_addr is null and MASTER_ADDR"),
        ({"NNODES": "2", "NODE_RANK": "2", "MASTER_ADDR": "h"}, "node rank 2 is outside 0..1"),
        ({"NNODES": "two"}, "NNODES='two' is not an integer"),
    ],
)
def test_missing_topology_names_what_to_set(environ, match):
    with pytest.raises(ClusterConfigError, match=match):
        _topology(**environ)


def test_command_line_per_node():
    launcher = make_launcher(
        {**TORCHRUN, "gpus_per_node": 8}, environ={"NNODES": "2", "MASTER_ADDR": "10.1.2.3"}
    )
    job = Job(
        "sft",
        ("swift", "sft", "--system", "a b"),
        env={"HF_TOKEN": "hf_xxxxxxxx"},
        mode="torchrun",
        nnodes=2,
        gpus_per_node=8,
    )
    assert launcher.command_line(job, 1) == (
        "NNODES=2 NODE_RANK=1 MASTER_ADDR=10.1.2.3 MASTER_PORT=29500 NPROC_PER_NODE=8 "
        "swift sft --system 'a b'"
    )
    prep = Job("prep", ("python", "-m", "data_prep"))
    assert launcher.command_line(prep, 1).startswith("# stage prep runs on node 0 only")
    assert launcher.command_line(prep, 0) == "python -m data_prep"


def test_stage_and_cluster_node_counts_must_agree():
    launcher = make_launcher({**TORCHRUN, "nnodes": 2, "node_rank": 0, "master_addr": "h"})
    job = Job("sft", ("x",), mode="torchrun", nnodes=4)
    with pytest.raises(Exception, match="spans 4 nodes but this torchrun cluster has 2"):
        launcher.run(job)


def _start_nodes(tmp_path, spec, nnodes=2, extra_env=None):
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    procs = []
    for rank in range(nnodes):
        env = {
            **os.environ,
            "NODE_RANK": str(rank),
            "NNODES": str(nnodes),
            "MASTER_ADDR": "127.0.0.1",
            **(extra_env or {}),
        }
        log = open(tmp_path / f"harness{rank}.log", "wb")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(spec["_programs"]) + "/node_main.py",
                    str(spec_path),
                    str(tmp_path / f"result{rank}.json"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        if rank == 0:
            time.sleep(0.5)  # any order works; this just makes rank 1 the one that waits
    return procs


def _finish(procs, tmp_path, timeout=240):
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    logs = "\n".join((tmp_path / f"harness{r}.log").read_text()[-3000:] for r in range(len(procs)))
    assert [p.returncode for p in procs] == [0] * len(procs), logs
    return [read_json(tmp_path / f"result{r}.json") for r in range(len(procs))], logs


@pytest.mark.slow
def test_two_hand_started_nodes_form_one_job(tmp_path, programs):
    """rank 0 and rank 1 on 127.0.0.1: a rank-0-only stage, then a 2-node gloo job, then a
    failing rank-0-only stage whose exit code reaches rank 1."""
    PWNED.unlink(missing_ok=True)
    port = free_port()
    marker = tmp_path / "prepared"
    ranks = tmp_path / "ranks"
    logs = str(tmp_path / "logs")
    common = {"workdir": str(tmp_path), "log_dir": logs}
    spec = {
        "_programs": str(programs),
        "cluster": {**TORCHRUN, "master_port": port, "sync_port": free_port()},
        "observe": [str(marker)],
        "jobs": [
            {
                "name": "prep",
                "mode": "single",
                **common,
                "argv": [
                    sys.executable,
                    "-c",
                    f"import time; time.sleep(2); open({str(marker)!r}, 'w').write('x')",
                ],
            },
            {
                "name": "train",
                "mode": "torchrun",
                "nnodes": 2,
                **common,
                "env": HOSTILE_ENV,
                "argv": [
                    sys.executable,
                    str(programs / "fake_swift.py"),
                    str(programs / "dist_worker.py"),
                    str(ranks),
                    *HOSTILE,
                ],
            },
            {
                "name": "fails",
                "mode": "single",
                **common,
                "argv": [sys.executable, "-c", "raise SystemExit(5)"],
            },
        ],
    }
    (r0, r1), logs_text = _finish(_start_nodes(tmp_path, spec), tmp_path)
    # rank 1 returned from "prep" only after rank 0 had written the marker
    assert r1[0] == {**r1[0], "name": "prep", "rc": 0, "exists": {str(marker): True}}
    assert [r["name"] for r in r0] == [r["name"] for r in r1] == ["prep", "train", "fails"]
    assert [r["rc"] for r in r0] == [r["rc"] for r in r1] == [0, 0, 5]
    reports = [read_json(ranks / f"rank{k}.json") for k in (0, 1)]
    assert [(r["rank"], r["world_size"], r["sum"]) for r in reports] == [(0, 2, 3.0), (1, 2, 3.0)]
    assert [r["env"]["NODE_RANK"] for r in reports] == ["0", "1"]
    assert all(r["env"]["NNODES"] == "2" and r["env"]["NPROC_PER_NODE"] == "1" for r in reports)
    assert all(r["argv"] == list(HOSTILE) for r in reports)
    assert not PWNED.exists()
    assert (tmp_path / "logs" / "train.node0.log").exists()
    assert (tmp_path / "logs" / "train.node1.log").exists()
    assert not (tmp_path / "logs" / "prep.node1.log").exists()  # rank 1 did not run it


@pytest.mark.slow
def test_two_hand_started_nodes_bring_up_ray_before_the_driver(tmp_path, programs):
    """mode ray: rank 0 starts the head, rank 1 joins; the driver sees both nodes."""
    out = tmp_path / "ray.json"
    ports = free_port_block(15)
    ray = {
        "port": ports,
        "client_server_port": ports + 1,
        "dashboard_port": ports + 2,
        "node_manager_port": ports + 3,
        "object_manager_port": ports + 5,
        "runtime_env_agent_port": ports + 7,
        "dashboard_agent_grpc_port": ports + 9,
        "dashboard_agent_listen_port": ports + 11,
        "metrics_export_port": ports + 13,
        "num_cpus": 1,
        "retry_delay_s": 2,
        "join_timeout_s": 120,
        "temp_dir": f"/tmp/rt{os.getpid()}",
    }
    spec = {
        "_programs": str(programs),
        "cluster": {**TORCHRUN, "master_port": free_port(), "sync_port": free_port(), "ray": ray},
        "jobs": [
            {
                "name": "grpo",
                "mode": "ray",
                "nnodes": 2,
                "workdir": str(tmp_path),
                "log_dir": str(tmp_path / "logs"),
                "alloc_args": {"trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node"},
                "argv": [
                    sys.executable,
                    str(programs / "ray_entry.py"),
                    str(out),
                    "trainer.nnodes=1",
                    *HOSTILE[:3],
                ],
            },
        ],
    }
    try:
        (r0, r1), logs = _finish(_start_nodes(tmp_path, spec), tmp_path)
        report = read_json(out)
        assert report["alive_nodes"] == 2 and report["launch_nodes"] == 2, logs
        assert report["argv"] == ["trainer.nnodes=2", *HOSTILE[:3], "trainer.n_gpus_per_node=0"]
        assert r0[0]["rc"] == r1[0]["rc"] == 0
        for k in (0, 1):
            assert "attempt 1/3" in (tmp_path / "logs" / f"grpo.node{k}.ray.log").read_text()
        assert processes_mentioning(ray["temp_dir"]) == []  # every node stopped its Ray
    finally:
        for pid in processes_mentioning(ray["temp_dir"]):
            os.kill(pid, 9)
        shutil.rmtree(ray["temp_dir"], ignore_errors=True)


def test_is_primary_only_on_node_zero():
    env = {"NNODES": "2", "MASTER_ADDR": "h"}
    assert make_launcher(TORCHRUN, environ={**env, "NODE_RANK": "0"}).is_primary()
    assert not make_launcher(TORCHRUN, environ={**env, "NODE_RANK": "1"}).is_primary()
    assert make_launcher({"launcher": "local"}).is_primary()


@pytest.mark.slow
def test_waiting_node_fails_fast_when_rank0_vanishes(tmp_path, programs):
    """rank 0 serves the node-sync store, then dies without publishing: rank 1 must not hang."""
    sync = free_port()
    rank0 = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import datetime, time\n"
                "from torch.distributed import TCPStore\n"
                f"s = TCPStore('127.0.0.1', {sync}, is_master=True, wait_for_workers=False)\n"
                "time.sleep(4)\n"
            ),
        ]
    )
    try:
        launcher = make_launcher(
            {**TORCHRUN, "sync_port": sync},
            environ={"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "127.0.0.1"},
        )
        job = Job("prep", (sys.executable, "-c", "pass"), workdir=str(tmp_path), log_dir=str(tmp_path))
        started = time.monotonic()
        assert launcher.run(job) == 1
        assert time.monotonic() - started < 60
    finally:
        rank0.kill()
        rank0.wait()


def test_nproc_per_node_from_the_platform_must_match_the_stage():
    job = Job("sft", ("swift", "sft"), mode="torchrun", nnodes=2, gpus_per_node=8)
    env = {"NNODES": "2", "NODE_RANK": "0", "MASTER_ADDR": "h"}
    launcher = make_launcher({**TORCHRUN, "gpus_per_node": 8}, environ={**env, "NPROC_PER_NODE": "4"})
    with pytest.raises(ClusterConfigError, match="NPROC_PER_NODE=4 in this node's environment"):
        launcher.command_line(job)
    launcher = make_launcher({**TORCHRUN, "gpus_per_node": 8}, environ={**env, "NPROC_PER_NODE": "8"})
    assert "NPROC_PER_NODE=8" in launcher.command_line(job)
