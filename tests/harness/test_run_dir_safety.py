"""A run directory is a safe unit (issue 14): names, the lock, corrupt state, stale stages, secrets.

The runner tests start the real CLI (`harness.cli.main`) in subprocesses on a two-stage pipeline
of a line-counting kind (rundir_driver.py): count reads a file, recount reads count's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.config import REPO_ROOT
from harness.rundir import MAX_RUN_NAME, check_run_name

from .conftest import compose_paper, plan_for

DRIVER = Path(__file__).with_name("rundir_driver.py")
TOKEN = "hf_secretvalue_0123456789"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_TOKEN")}
    return {**env, **extra}


def _start(runs: Path, source: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), str(runs), str(source), "run_name=r", *args],
        cwd=REPO_ROOT,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _run(runs: Path, source: Path, *args: str, **env: str) -> tuple[int, str, str]:
    proc = _start(runs, source, *args, **env)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(f'{{"i": {i}}}\n' for i in range(7)))
    return path


def _run_dir(runs: Path) -> Path:
    return runs / "fake_hr1" / "r"


def _manifest(runs: Path) -> dict:
    return json.loads((_run_dir(runs) / "manifest.json").read_text())


# ----- 1. run names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/x", ".", "..", ".hidden", "a/b", "a b", "", "x" * (MAX_RUN_NAME + 1)]
)
def test_a_run_name_that_is_not_one_plain_folder_name_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run_name: .* is not a valid run name: use letters, digits"):
        check_run_name(name)
    with pytest.raises(ConfigError, match="run_name"):
        plan_for("fake_hr1", f"paths.runs={tmp_path}", run_name=name or "/")


def test_the_shared_stage_folder_is_not_a_run_name(tmp_path: Path) -> None:
    """runs/<paper>/_shared holds the store's entries (harness/stage_store.py): a run of that name
    wrote its stage folders among them."""
    message = "run_name: '_shared' is the folder of the shared stages (runs/<paper>/_shared); choose another"
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_run_name("_shared")
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_for("fake_hr1", f"paths.runs={tmp_path}", run_name="_shared")
    assert check_run_name("_shared2") == "_shared2"


@pytest.mark.parametrize("name", ["r1", "fold-0__data.fold-3", "2026_12_02.b", "x" * MAX_RUN_NAME])
def test_plain_run_names_are_accepted(name: str) -> None:
    assert check_run_name(name) == name


def test_cli_refuses_an_escaping_run_name_in_one_line_and_writes_nothing(
    tmp_path: Path, source: Path
) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(runs), str(source), "run_name=../../escaped"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: run_name: '../../escaped' is not a valid run name: use letters, digits, '-', '_' "
        f"and '.' (not first), at most {MAX_RUN_NAME} characters"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines.jsonl"]


# ----- 2. one invocation per run directory ---------------------------------------------------------


def _wait_for(condition, seconds: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _count_running(runs: Path) -> bool:
    try:
        return _manifest(runs)["stages"][0]["status"] == "running"
    except (OSError, ValueError, KeyError, IndexError):
        return False


def test_a_second_invocation_of_a_busy_run_exits_at_once_and_a_dead_holder_never_blocks(
    tmp_path: Path, source: Path
) -> None:
    runs = tmp_path / "runs"
    first = _start(runs, source, COUNT_SLEEP="600", COUNT_WORKER="1")
    pids_file = _run_dir(runs) / "count" / "count.json.pids"
    try:
        _wait_for(
            lambda: _count_running(runs) and pids_file.exists() and len(pids_file.read_text().split()) == 2
        )
        started = time.monotonic()
        code, out, err = _run(runs, source)
        assert code == 2, out + err
        assert err.strip().splitlines() == [
            f"error: run r is in use by PID {first.pid} on {socket.gethostname()} ({_run_dir(runs)}); "
            "wait for it to finish, stop it, or use another run_name"
        ]
        assert time.monotonic() - started < 60
        # The first run's stage was left alone: still running, its folder intact.
        assert _count_running(runs) and (_run_dir(runs) / "count").is_dir()
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # a holder that dies without cleaning up
        first.communicate(timeout=60)
    # Its stage (its own session) and the stage's worker (ignores SIGTERM) live on, orphaned.
    stage, worker = map(int, pids_file.read_text().split())
    assert _alive(stage) and _alive(worker)
    assert (_run_dir(runs) / ".lock").exists()  # the stale lock file stays behind ...
    code, out, err = _run(runs, source)  # ... and does not block the rerun
    assert code == 0, out + err
    assert "[1/2] count: running (was running; restarting cleanly)" in out
    # The restart first stopped the earlier attempt: two trainers on one stage folder (and its GPUs)
    # otherwise. The worker needed the SIGKILL after the grace period.
    assert f"==> stopping 2 process(es) of an earlier attempt still running: {min(stage, worker)}, " in out
    assert not _alive(stage) and not _alive(worker)
    assert _manifest(runs)["stages"][1]["status"] == "completed"


# ----- 4. a corrupt manifest ---------------------------------------------------------------------


def test_a_truncated_manifest_is_rebuilt_from_the_stage_records(tmp_path: Path, source: Path) -> None:
    runs = tmp_path / "runs"
    assert _run(runs, source)[0] == 0
    path = _run_dir(runs) / "manifest.json"
    path.write_text(path.read_text()[:100])
    code, out, err = _run(runs, source)
    assert code == 0, out + err
    assert f"{path} was unreadable (" in err and "rebuilt it from 2 stage.json files" in err
    assert "Traceback" not in err
    assert "count: already completed" in out and "recount: already completed" in out
    assert _manifest(runs)["paper"] == "fake_hr1"  # the header is whole again


def test_a_manifest_that_cannot_be_rebuilt_names_the_file_and_the_ways_out(
    tmp_path: Path, source: Path
) -> None:
    runs = tmp_path / "runs"
    assert _run(runs, source)[0] == 0
    path = _run_dir(runs) / "manifest.json"
    path.write_text("{not json")
    for stage in ("count", "recount"):
        (_run_dir(runs) / stage / "stage.json").write_text("[]")
    code, out, err = _run(runs, source)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path} is unreadable (")
    assert lines[0].endswith("rerun every stage with from_stage=count, or use another run_name")
    code, out, err = _run(runs, source, "from_stage=count")
    assert code == 0, out + err
    assert "[1/2] count: running" in out and "[2/2] recount: running" in out


def test_from_stage_on_a_run_that_never_ran_is_refused_before_anything_runs(
    tmp_path: Path, source: Path
) -> None:
    """A mistyped run_name (or none) with from_stage started the whole pipeline in a new folder:
    found by typing `from_stage=eval` on a fresh smoke run, which began training the SFT."""
    runs = tmp_path / "runs"
    for dry_run in ("true", "false"):
        code, out, err = _run(runs, source, "from_stage=recount", f"dry_run={dry_run}")
        assert code == 2, out + err
        assert err.strip().splitlines() == [
            "error: from_stage: from_stage=recount reruns stages of an existing run, and run r has never "
            f"run ({_run_dir(runs)} has no manifest.json): give the run_name of the run to rerun, or leave "
            "from_stage out to start this run from count"
        ]
        assert out == ""
    assert not _run_dir(runs).exists()
    # from the first stage is the whole run: a fresh run may start so
    code, out, err = _run(runs, source, "from_stage=count")
    assert code == 0 and "[1/2] count: running" in out and "[2/2] recount: running" in out, out + err
    code, out, err = _run(runs, source, "from_stage=recount")
    assert code == 0 and "count: already completed" in out and "[2/2] recount: running" in out, out + err


def test_from_stage_on_a_mistyped_run_name_names_the_runs_there_are(tmp_path: Path) -> None:
    from harness.invoke import _check_rerun

    for name in ("older", "run-1", "_shared"):
        (tmp_path / "fake_hr1" / name).mkdir(parents=True)
        (tmp_path / "fake_hr1" / name / "manifest.json").write_text('{"stages": []}')
        time.sleep(0.05)  # newest first is by modification time
    plan = plan_for("fake_hr1", f"paths.runs={tmp_path}", run_name="run-l")
    with pytest.raises(ConfigError) as caught:
        _check_rerun(plan, "grpo")
    assert str(caught.value).endswith(
        "give the run_name of the run to rerun (did you mean: run-1?), or leave from_stage out to start "
        f"this run from {plan.stages[0].name}; runs of this paper, newest first: run-1, older"
    )
    _check_rerun(plan_for("fake_hr1", f"paths.runs={tmp_path}", run_name="run-1"), "grpo")  # it exists


# ----- 5. a rerun upstream reruns what consumed it -----------------------------------------------


def test_deleting_an_upstream_output_reruns_every_stage_that_consumed_it(
    tmp_path: Path, source: Path
) -> None:
    runs = tmp_path / "runs"
    assert _run(runs, source)[0] == 0
    (_run_dir(runs) / "count" / "count.json").unlink()
    code, out, err = _run(runs, source, "dry_run=true")  # the dry run says what will rerun, and why
    assert code == 0, out + err
    assert "# stage: count\n# in r: runs (its outputs are gone)\n" in out
    assert "# stage: recount\n# in r: runs (stage 'count' reruns)\n" in out
    code, out, err = _run(runs, source)
    assert code == 0, out + err
    assert "[1/2] count: running (its outputs are gone)" in out
    assert "[2/2] recount: running (stage 'count' reruns)" in out


def test_a_stage_rerun_alone_makes_its_consumers_stale_for_the_next_invocation(
    tmp_path: Path, source: Path
) -> None:
    runs = tmp_path / "runs"
    assert _run(runs, source)[0] == 0
    code, out, err = _run(runs, source, "stages=[count]", "from_stage=count")
    assert code == 0 and "[1/2] count: running" in out and "recount: running" not in out, out + err
    code, out, err = _run(runs, source)
    assert code == 0, out + err
    assert "count: already completed" in out
    assert "[2/2] recount: running (stage 'count' completed again since)" in out


# ----- 6. the reward file's content ----------------------------------------------------------------

REWARD = "def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n    return {}\n"


def test_a_changed_reward_file_refuses_a_finished_run_and_is_not_copied_in(
    tmp_path: Path, source: Path
) -> None:
    runs = tmp_path / "runs"
    reward = tmp_path / "my_reward.py"
    reward.write_text(REWARD)
    args = (f"reward.path={reward}", "reward.name=compute_score")
    assert _run(runs, source, *args)[0] == 0
    copy = _run_dir(runs) / "reward" / "my_reward.py"
    assert copy.read_text() == reward.read_text()
    # the run's config.yaml records the file it scored with: its copy
    assert f"  path: {copy}\n" in (_run_dir(runs) / "config.yaml").read_text()
    reward.write_text(REWARD.replace("{}", "{'score': 0.0}"))
    code, out, err = _run(runs, source, *args)
    assert code == 2, out + err
    assert err.startswith("error: stages.count: completed in") and "changed: reward.sha256 (" in err
    assert "Traceback" not in err
    assert copy.read_text() == REWARD  # the run keeps the reward that trained it


# ----- 7. derived values do not read as a changed config -------------------------------------------


def test_grpo_fingerprint_is_the_same_before_and_after_the_data_stage(tmp_path: Path) -> None:
    from harness.runner import stage_fingerprint

    cfg = compose_paper("fakexplain", f"paths.runs={tmp_path}")
    from harness.plan import build_plan

    before = build_plan(cfg, run_name="r")
    grpo = next(p for p in before.stages if p.kind == "verl_grpo")
    train = grpo.ctx.inputs["train_files"]
    train = Path(train[0] if isinstance(train, list) else train)
    train.parent.mkdir(parents=True)
    (train.parent / "stats.json").write_text(json.dumps({"written": {train.name: 13_000}}))
    after = build_plan(cfg, run_name="r")
    grpo_after = after.stage(grpo.name)
    assert grpo.rendered.argv != grpo_after.rendered.argv  # the real row count reached the command
    assert stage_fingerprint(before, grpo) == stage_fingerprint(after, grpo_after)


# ----- 8. secrets ----------------------------------------------------------------------------------


def test_a_secret_config_value_reaches_the_process_only(tmp_path: Path, source: Path) -> None:
    runs = tmp_path / "runs"
    code, out, err = _run(runs, source, f"+driver.env.HF_TOKEN={TOKEN}")
    assert code == 0, out + err
    run_dir = _run_dir(runs)
    seen = json.loads((run_dir / "count" / "count.json").read_text())
    assert seen["token_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest()
    written = {
        p.relative_to(run_dir): p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()
    }
    assert {Path("config.yaml"), Path("manifest.json"), Path("count/stage.json")} <= set(written)
    assert [str(p) for p, text in written.items() if TOKEN in text] == []
    assert _manifest(runs)["stages"][0]["config"]["stages.count.env.HF_TOKEN"] == "***"
    # The masked value does not read as a changed config on the next invocation.
    code, out, err = _run(runs, source, f"+driver.env.HF_TOKEN={TOKEN}")
    assert code == 0 and "count: already completed" in out, out + err


API_KEY = "sk-optionvalue-0123456789"


def test_a_secret_in_a_stage_option_is_masked_in_the_manifest_and_the_log(
    tmp_path: Path, source: Path
) -> None:
    """An API key passed as an option value (`options` travel as one JSON argument) and an env-like
    option key reach the stage's argv, but no file of the run."""
    runs = tmp_path / "runs"
    code, out, err = _run(
        runs,
        source,
        f"+driver.options.api_key={API_KEY}",
        f"+driver.options.env.MY_TOKEN={TOKEN}",
        "+driver.options.n=3",
    )
    assert code == 0, out + err
    run_dir = _run_dir(runs)
    written = {
        p.relative_to(run_dir): p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()
    }
    assert Path("logs/count.node0.log") in written
    assert [str(p) for p, text in written.items() if API_KEY in text or TOKEN in text] == []
    argv = _manifest(runs)["stages"][0]["argv"]
    assert json.loads(argv[argv.index("--options") + 1]) == {
        "api_key": "***",
        "env": {"MY_TOKEN": "***"},
        "n": 3,
    }


# ----- 3. signals --------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_harness_stops_the_whole_stage_and_the_run_resumes(
    tmp_path: Path, source: Path, signum: int
) -> None:
    runs = tmp_path / "runs"
    harness = _start(runs, source, COUNT_SLEEP="600", COUNT_WORKER="1")
    pids_file = _run_dir(runs) / "count" / "count.json.pids"
    try:
        _wait_for(lambda: pids_file.exists() and len(pids_file.read_text().split()) == 2)
        stage, worker = map(int, pids_file.read_text().split())
        os.kill(harness.pid, signum)  # the harness alone, not its group
        out, err = harness.communicate(timeout=120)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
    assert harness.returncode == 128 + signum, out + err
    name = signal.Signals(signum).name
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"[1/2] count: interrupted by {name} after ")
    assert lines[0].endswith(
        "its processes were stopped; resume with: python -m harness " + _argv_tail(runs, source)
    )
    # The stage's worker ignored SIGTERM and was killed after the grace period, with the stage.
    assert not _alive(stage) and not _alive(worker)
    record = _manifest(runs)["stages"][0]
    assert record["status"] == "interrupted" and record["exit_code"] == 128 + signum
    assert record["started"] and record["ended"] and record["seconds"] is not None
    code, out, err = _run(runs, source)
    assert code == 0, out + err
    assert "[1/2] count: running (was interrupted; restarting cleanly)" in out
    assert [s["status"] for s in _manifest(runs)["stages"]] == ["completed", "completed"]


def _argv_tail(runs: Path, source: Path) -> str:
    import shlex

    return shlex.join([str(runs), str(source), "run_name=r"])


def test_a_record_from_before_the_chain_is_not_a_changed_config() -> None:
    from harness.runner import _changed_keys

    old = {"stages.sft.lr": 1}
    assert _changed_keys(old, {**old, "upstream.data": "ab12", "reward.sha256": "cd"}) == []
    assert _changed_keys({**old, "upstream.data": "ab12"}, {**old, "upstream.data": "ef34"}) == [
        "upstream.data ('ab12' -> 'ef34')"
    ]
    assert _changed_keys(old, {**old, "stages.sft.new": 2}) == ["stages.sft.new ('<absent>' -> 2)"]


def test_a_refused_job_leaves_nothing_behind(tmp_path: Path, source: Path) -> None:
    """Found at launch (not by validation): no reward copy, no manifest, no run directory."""
    reward = tmp_path / "my_reward.py"
    reward.write_text(REWARD)
    runs = tmp_path / "runs"
    code, out, err = _run(runs, source, "+driver.env.BAD-NAME=1", f"reward.path={reward}")
    assert code != 0 and "env name 'BAD-NAME' is not a valid variable name" in err, out + err
    assert not _run_dir(runs).exists()


# ----- 4. relative paths -------------------------------------------------------------------------


def test_relative_paths_are_taken_from_where_the_harness_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stages run in the checkout (launch.job.Job.workdir): a relative paths.runs put the manifest
    under the user's directory and the stage's output under the checkout; `~` was a folder "~"."""
    from harness.config import absolute_path_overrides, compose

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    odd = tmp_path / "it's a dir"
    odd.mkdir()
    monkeypatch.chdir(odd)
    assert absolute_path_overrides(
        ["paths.runs=rr", "paths.data=~/data", "run_name=rr", "paths.models=${x}"]
    ) == [
        f"paths.runs='{odd.parent}/it\\'s a dir/rr'",
        f"paths.data={tmp_path}/home/data",
        "run_name=rr",
        "paths.models=${x}",
    ]
    cfg = compose(["paper=fakescope", "profile=smoke", "paths.runs=rr", "paths.cache=~/c"])
    assert (cfg.paths.runs, cfg.paths.cache) == (str(odd / "rr"), str(tmp_path / "home" / "c"))


def test_a_run_with_a_relative_runs_folder_keeps_its_outputs_in_its_run_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "paper=fakescope",
            "profile=smoke",
            "paths.runs=rr",
            "run_name=r",
            "stages=[tiny_model]",
        ],  # fmt: skip
        cwd=elsewhere,
        env={**_env(), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = elsewhere / "rr" / "fakescope" / "r"
    assert (run / "manifest.json").is_file() and (run / "tiny_model" / "config.json").is_file()
    assert not (REPO_ROOT / "rr").exists()


def test_a_relative_input_is_taken_from_where_the_harness_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The existence check read `data.root=mydata` from the user's directory, the stage (run in the
    checkout) from the checkout: the check passed and the stage did not find it."""
    from harness.validate import missing_inputs

    (tmp_path / "mydata").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    plan = plan_for("fakexplain", f"paths.runs={tmp_path / 'runs'}", "data.root=mydata")
    argv = plan.stage("prepare_data").rendered.argv
    assert argv[argv.index("--input") + 1] == str(tmp_path / "mydata")
    assert "stages.prepare_data.inputs.input" not in {p.key for p in missing_inputs(plan)}
    monkeypatch.chdir(tmp_path / "elsewhere")  # no mydata here: named before anything runs
    elsewhere = plan_for("fakexplain", f"paths.runs={tmp_path / 'runs'}", "data.root=mydata")
    assert "stages.prepare_data.inputs.input" in {p.key for p in missing_inputs(elsewhere)}
    argv = elsewhere.stage("prepare_data").rendered.argv
    assert argv[argv.index("--input") + 1] == str(tmp_path / "elsewhere" / "mydata")
