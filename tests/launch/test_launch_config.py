"""conf/cluster/*.yaml compose with Hydra and parse; bad values name their key."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from harness.config_schemas import register_schemas
from launch import LocalLauncher, SlurmLauncher, TorchrunLauncher, make_launcher
from launch.config import ClusterConfigError, parse_cluster

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _compose(*overrides):
    register_schemas()  # conf/cluster/*.yaml start from launch.config's dataclasses
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return compose(overrides=list(overrides))


@pytest.mark.parametrize(
    "name, cls, gpus",
    [("local", LocalLauncher, 0), ("torchrun", TorchrunLauncher, 8), ("slurm", SlurmLauncher, 8)],
)
def test_every_cluster_file_composes_and_builds_its_launcher(name, cls, gpus, monkeypatch):
    for var in ("NNODES", "WORLD_SIZE", "NPROC_PER_NODE"):
        monkeypatch.delenv(var, raising=False)
    cfg = _compose(f"+cluster={name}")
    launcher = make_launcher(cfg.cluster)
    assert isinstance(launcher, cls)
    assert cfg.cluster.launcher == name
    assert launcher.cfg.gpus_per_node == gpus
    assert cfg.cluster.nnodes == 1  # the harness reads it to size gradient accumulation


def test_command_line_overrides_reach_the_launcher():
    cfg = _compose(
        "+cluster=slurm", "cluster.nnodes=2", "cluster.slurm.partition=gpu", "cluster.gpus_per_node=16"
    )
    launcher = make_launcher(cfg.cluster)
    assert (launcher.cfg.nnodes, launcher.cfg.gpus_per_node) == (2, 16)
    assert launcher.cfg.slurm.partition == "gpu"


def test_misspelt_override_is_rejected_by_hydra():
    with pytest.raises(Exception, match="partion"):
        _compose("+cluster=slurm", "cluster.slurm.partion=gpu")


@pytest.mark.parametrize(
    "env, expected",
    [({}, 1), ({"NNODES": "3"}, 3), ({"WORLD_SIZE": "4"}, 4), ({"NNODES": "2", "WORLD_SIZE": "4"}, 2)],
)
def test_torchrun_node_count_comes_from_the_environment(env, expected, monkeypatch):
    monkeypatch.delenv("NPROC_PER_NODE", raising=False)
    monkeypatch.delenv("NNODES", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = _compose("+cluster=torchrun")
    assert cfg.cluster.nnodes == expected
    assert make_launcher(cfg.cluster).cfg.nnodes == expected


@pytest.mark.parametrize(
    "cluster, match",
    [
        ({}, "cluster.launcher: is missing"),
        ({"launcher": "pbs"}, "cluster.launcher: 'pbs' is not one of local"),
        (
            {"launcher": "slurm", "slurm": {"partion": "gpu"}},
            r"cluster.slurm.partion: unknown key \(did you mean: partition\?\)",
        ),
        ({"launcher": "local", "gpus_per_nod": 8}, r"cluster.gpus_per_nod: .*did you mean: gpus_per_node\?"),
        ({"launcher": "local", "gpus_per_node": "8"}, "cluster.gpus_per_node: must be an integer, got '8'"),
        ({"launcher": "local", "nnodes": 0}, "cluster.nnodes: must be >= 1"),
        ({"launcher": "slurm", "nnodes": None}, "cluster.nnodes: is null"),
        ({"launcher": "local", "nnodes": 2}, "cluster=local runs on this machine only"),
        ({"launcher": "torchrun", "master_port": 70000}, "cluster.master_port: must be a port"),
        ({"launcher": "torchrun", "ray": {"port": 0}}, "cluster.ray.port"),
        ({"launcher": "slurm", "slurm": {"gpu_request": "gpus"}}, "cluster.slurm.gpu_request"),
        ({"launcher": "slurm", "slurm": {"extra_sbatch": ["--a\n--b"]}}, r"extra_sbatch\[0\]"),
        ({"launcher": "slurm", "slurm": {"setup": "module load x"}}, "cluster.slurm.setup: must be a list"),
        ({"launcher": "slurm", "secret_patterns": []}, "cluster.secret_patterns: is empty"),
        # each passed and failed on the node or at submission, after earlier stages ran or were queued
        (
            {"launcher": "torchrun", "nnodes": 2, "node_rank": 5},
            r"cluster.node_rank: must be below cluster.nnodes \(2\), got 5",
        ),
        ({"launcher": "torchrun", "master_addr": ""}, "cluster.master_addr: is empty; give a value or null"),
        (
            {"launcher": "local", "visible_devices": "0,abc"},
            r"cluster.visible_devices: 'abc' is not a GPU index or UUID",
        ),
        (
            {"launcher": "slurm", "slurm": {"time": "forever"}},
            "cluster.slurm.time: 'forever' is not a Slurm time",
        ),
        (
            {"launcher": "slurm", "slurm": {"mem": "lots"}},
            "cluster.slurm.mem: 'lots' is not a Slurm memory size",
        ),
        ({"launcher": "slurm", "slurm": {"account": ""}}, "cluster.slurm.account: is empty"),
        ({"launcher": "slurm", "slurm": {"qos": " "}}, "cluster.slurm.qos: is empty"),
        ({"launcher": "slurm", "slurm": {"partition": "a b"}}, "cluster.slurm.partition: 'a b' has a space"),
    ],
)
def test_bad_cluster_values_name_their_key(cluster, match):
    with pytest.raises(ClusterConfigError, match=match):
        parse_cluster(cluster)


def test_slurm_name_lists_pass():
    cfg = parse_cluster({"launcher": "slurm", "slurm": {"partition": "gpu,gpu-long", "account": "proj_1"}})
    assert (cfg.slurm.partition, cfg.slurm.account) == ("gpu,gpu-long", "proj_1")


def test_torchrun_gpus_per_node_follows_nproc_per_node_unless_set(monkeypatch):
    monkeypatch.setenv("NPROC_PER_NODE", "4")
    assert _compose("+cluster=torchrun").cluster.gpus_per_node == 4
    assert _compose("+cluster=torchrun", "cluster.gpus_per_node=16").cluster.gpus_per_node == 16


def test_every_bad_cluster_value_is_reported_at_once():
    with pytest.raises(ClusterConfigError) as caught:
        parse_cluster({"launcher": "slurm", "nnodes": 0, "slurm": {"partion": "gpu", "exclusive": "yes"}})
    assert [p.key for p in caught.value.problems] == ["cluster.slurm.partion", "cluster.slurm.exclusive"]
    with pytest.raises(ClusterConfigError) as caught:
        parse_cluster({"launcher": "slurm", "nnodes": 0, "master_port": 0, "ray": {"start_retries": 0}})
    assert [p.key for p in caught.value.problems] == [
        "cluster.nnodes",
        "cluster.master_port",
        "cluster.ray.start_retries",
    ]


def test_amounts_and_durations_of_zero_or_less_are_refused_together():
    """Each used to pass: a memory check that could not pass (gpu_memory_gb 0 showed as "vLLM cannot
    start"), `wait` polling scontrol without pause, a Ray that could schedule nothing, a sleep that
    raised on the node, a worker port range Ray refuses after the allocation started."""
    with pytest.raises(ClusterConfigError) as caught:
        parse_cluster(
            {
                "launcher": "slurm",
                "gpu_memory_gb": 0,
                "host_memory_gb": -1,
                "sync_timeout_s": 0,
                "ray": {
                    "num_cpus": 0,
                    "join_timeout_s": 0,
                    "stop_timeout_s": -1,
                    "retry_delay_s": -1,
                    "min_worker_port": 60000,
                    "max_worker_port": 54513,
                },
                "slurm": {"cpus_per_task": 0, "poll_interval_s": 0},
            }
        )
    assert [str(p) for p in caught.value.problems] == [
        "cluster.ray.min_worker_port: must not be above cluster.ray.max_worker_port (60000 > 54513)",
        "cluster.gpu_memory_gb: must be more than 0, got 0.0",
        "cluster.host_memory_gb: must be more than 0, got -1.0",
        "cluster.sync_timeout_s: must be more than 0, got 0.0",
        "cluster.ray.num_cpus: must be more than 0, got 0",
        "cluster.ray.join_timeout_s: must be more than 0, got 0.0",
        "cluster.ray.stop_timeout_s: must be more than 0, got -1.0",
        "cluster.slurm.cpus_per_task: must be more than 0, got 0",
        "cluster.slurm.poll_interval_s: must be more than 0, got 0.0",
        "cluster.ray.retry_delay_s: must be 0 or more, got -1.0",
    ]
    at_limits = {
        "launcher": "slurm",
        "ray": {"retry_delay_s": 0, "min_worker_port": 54001, "max_worker_port": 54001},
    }
    assert parse_cluster(at_limits).ray.retry_delay_s == 0


@pytest.mark.parametrize(
    "time", ["120", "30:00", "12:00:00", "2-00", "2-12:30", "2-00:00:00", "UNLIMITED", "infinite"]
)
def test_slurm_time_limits_sbatch_takes_pass(time):
    assert parse_cluster({"launcher": "slurm", "slurm": {"time": time, "mem": "480G"}}).slurm.time == time


def test_gpu_uuids_and_indices_pass():
    devices = "0, 3,GPU-8d3f6a1c-1b2e-4c5d-9e0f-123456789abc,MIG-GPU-8d3f6a1c/1/0"
    assert parse_cluster({"launcher": "local", "visible_devices": devices}).visible_devices == devices
