"""launch.job: the Job contract and the allocation rewrite of argv."""

import pytest

from launch.job import Job, JobError, resolved_argv

ALLOC = {"trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node"}


def test_lists_become_tuples_and_job_is_frozen():
    job = Job("sft", ["swift", "sft"], post_argv=[["python", "-V"]])
    assert job.argv == ("swift", "sft")
    assert job.post_argv == (("python", "-V"),)
    with pytest.raises(AttributeError):
        job.name = "other"  # type: ignore[misc]


def test_log_file_names_stage_and_node():
    job = Job("grpo", ("x",), log_dir="/run/logs")
    assert job.log_file(1) == "/run/logs/grpo.node1.log"
    assert job.log_file(0, ".ray") == "/run/logs/grpo.node0.ray.log"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "a b"}, "stage name"),
        ({"name": "../x"}, "stage name"),
        ({"mode": "mpi"}, "mode 'mpi'"),
        ({"argv": ()}, "argv is empty"),
        ({"argv": ("python", 3)}, r"argv\[1\] is int"),
        ({"argv": ("a\0b",)}, "NUL"),
        ({"nnodes": 0}, "nnodes"),
        ({"gpus_per_node": -1}, "gpus_per_node"),
        ({"env": {"1BAD": "x"}}, "env name"),
        ({"env": {"N": 3}}, "env N must be a string"),
        ({"alloc_args": {"trainer.nnodes": "nodes"}}, "alloc_args"),
        ({"post_argv": [[]]}, r"post_argv\[0\] is empty"),
    ],
)
def test_invalid_jobs_are_refused_with_the_field_named(kwargs, match):
    base = {"name": "s", "argv": ("x",), "mode": "torchrun"}
    with pytest.raises(JobError, match=match):
        Job(**{**base, **kwargs})


def test_alloc_args_are_rewritten_in_place_and_appended_when_missing():
    job = Job(
        "grpo",
        ("python3", "-m", "verl.trainer.main_ppo", "trainer.nnodes=1", "data.x=trainer.nnodes=7"),
        mode="ray",
        nnodes=2,
        gpus_per_node=8,
        alloc_args=ALLOC,
    )
    assert resolved_argv(job, 4, 16) == (
        "python3",
        "-m",
        "verl.trainer.main_ppo",
        "trainer.nnodes=4",
        "data.x=trainer.nnodes=7",  # only whole keys are rewritten
        "trainer.n_gpus_per_node=16",
    )


def test_argv_without_alloc_args_is_untouched():
    job = Job("sft", ("swift", "sft", "trainer.nnodes=1"))
    assert resolved_argv(job, 8, 8) == job.argv


def test_single_stage_uses_one_node_whatever_nnodes_says():
    assert Job("prep", ("x",), mode="single", nnodes=4).nodes_used == 1
    assert Job("sft", ("x",), mode="torchrun", nnodes=4).nodes_used == 4
