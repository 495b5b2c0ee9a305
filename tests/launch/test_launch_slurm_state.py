"""launch.slurm_state: reading `scontrol show job -o` and summarising a chain."""

import subprocess

from launch.slurm_state import ChainResult, query, to_state, wait_chain

LINES = {
    "11": "JobId=11 JobName=a UserId=root(0) JobState=COMPLETED Reason=None Dependency=(null) "
    "Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:0 RunTime=00:00:03 TimeLimit=UNLIMITED "
    "NodeList=n1 BatchHost=n1",
    "12": "JobId=12 JobName=b JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 "
    "RunTime=00:00:02 Command=/tmp/a b/b.sbatch BatchHost=n1",
    # A job cancelled before it started may still show a second of RunTime (a flake once).
    "13": "JobId=13 JobName=c JobState=CANCELLED Reason=DependencyNeverSatisfied ExitCode=0:0 "
    "RunTime=00:00:01 NodeList=",
    "14": "JobId=14 JobName=d JobState=PENDING Reason=DependencyNeverSatisfied ExitCode=0:0 RunTime=00:00:00",
}


def fake_runner(argv, **kw):
    job_id = argv[-1]
    if job_id not in LINES:
        return subprocess.CompletedProcess(argv, 1, "", "slurm_load_jobs error: Invalid job id specified")
    return subprocess.CompletedProcess(argv, 0, LINES[job_id] + "\n", "")


def test_query_reads_the_fields_it_needs():
    fields = query("12", fake_runner)
    assert fields["JobState"] == "FAILED" and fields["ExitCode"] == "3:0"


def test_purged_job_is_unknown():
    assert query("99", fake_runner)["JobState"] == "UNKNOWN"


def test_chain_names_the_failed_stage_and_the_stages_that_never_ran():
    result = wait_chain(
        [("a", "11", ""), ("b", "12", "/run/logs/b.node0.log"), ("c", "13", ""), ("d", "14", "")],
        poll_s=0,
        runner=fake_runner,
    )
    assert not result.ok
    assert result.failed.stage == "b" and result.failed.exit_code == 3
    assert [s.stage for s in result.not_run] == ["c", "d"]
    text = result.describe()
    assert "stage 'b' (Slurm job 12) failed: FAILED, exit code 3; see /run/logs/b.node0.log" in text
    assert "stage 'c' (Slurm job 13) never started: CANCELLED (DependencyNeverSatisfied)" in text


def test_all_completed_is_ok():
    result = ChainResult((to_state("a", "11", {"JobState": "COMPLETED", "ExitCode": "0:0"}),))
    assert result.ok and result.failed is None


def test_killed_by_signal_counts_as_failed():
    state = to_state(
        "a", "1", {"JobState": "CANCELLED", "ExitCode": "0:15", "RunTime": "00:01:00", "BatchHost": "n1"}
    )
    assert state.ran and not state.ok and state.signal == 15


def test_cancelled_while_pending_never_ran():
    state = to_state("c", "5", {"JobState": "CANCELLED", "Reason": "None", "RunTime": "00:00:01"})
    assert not state.ran and "never started" in state.describe()
