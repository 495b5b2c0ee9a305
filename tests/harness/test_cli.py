"""The CLI: dry-run output, exit codes, the light render path, profile selection."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.cli import main
from harness.config import REPO_ROOT, parse_invocation
from harness.invoke import _auto_profile

from .conftest import PAPERS, plan_for


def _harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _split_line(line: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(line)
    env = {}
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def test_dry_run_prints_every_stage_as_one_shell_line() -> None:
    proc = _harness("paper=fakexplain", "dry_run=true", "run_name=cli-test", "profile=full")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# paper: fakexplain  variant: linear  profile: full")
    plan = plan_for("fakexplain", run_name="cli-test")
    stage_lines = [i for i, line in enumerate(lines) if line.startswith("# stage: ")]
    assert [lines[i][len("# stage: ") :] for i in stage_lines] == [s.name for s in plan.stages]
    for index, planned in zip(stage_lines, plan.stages):
        command = lines[index + 1]
        env, argv = _split_line(command)
        assert argv == list(planned.rendered.argv), planned.name  # shlex round trip, verbatim
        for key, value in planned.rendered.env.items():
            assert env[key] == value
    sft_env, _ = _split_line(lines[stage_lines[[s.name for s in plan.stages].index("sft")] + 1])
    assert sft_env["NPROC_PER_NODE"] == "8" and sft_env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"


HEAVY = ("torch", "swift", "verl", "transformers", "vllm", "ray", "deepspeed", "peft", "trl")


def _stage_environment() -> dict[str, str]:
    """The harness's own variables (AIGI_*) of every stage of every paper: what a harness started
    from inside a stage (a table's report job, a user debugging a stage) inherits."""
    env: dict[str, str] = {}
    for paper in PAPERS:
        for stage in plan_for(paper).stages:
            env.update({k: v for k, v in stage.rendered.env.items() if k.startswith("AIGI_")})
    return env


def test_render_path_imports_neither_torch_nor_the_trainers(tmp_path: Path) -> None:
    """Also from a stage's environment: AIGI_SKIPPED_RECORDS once made the harness's import of
    data_prep/swift_skipped_records.py patch ms-swift, importing swift and torch."""
    stage_env = _stage_environment()
    assert "AIGI_SKIPPED_RECORDS" in stage_env
    stage_env["AIGI_SKIPPED_RECORDS"] = str(tmp_path / "skipped_records.jsonl")
    code = (
        "import sys, io, contextlib, traceback\n"
        f"HEAVY = {HEAVY!r}\n"
        "first = []\n"
        "class Witness:\n"  # names who imports a heavy module first, for the failure message
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in HEAVY and not first:\n"
        "            first.append(name + ' imported from:\\n' + ''.join(traceback.format_stack()))\n"
        "        return None\n"
        "sys.meta_path.insert(0, Witness())\n"
        "from harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['paper=fakexplain', 'dry_run=true', 'profile=full', 'variant=staged'])\n"
        f"    for paper in {PAPERS!r}:\n"
        "        rc = rc or main([f'paper={paper}', 'dry_run=true', 'profile=full'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))\n"
        "print(rc, ','.join(heavy))\n"
        "print(''.join(first[:1]), file=sys.stderr)\n"
    )
    for env in ({}, stage_env):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "0", f"heavy modules imported: {proc.stdout}{proc.stderr}"


def test_unknown_paper_exits_2_with_the_list() -> None:
    proc = _harness("paper=holmes", "dry_run=true")
    assert proc.returncode == 2
    assert "error: paper: unknown paper 'holmes'" in proc.stderr
    assert f"available: {', '.join(PAPERS)}" in proc.stderr


def test_as_published_prints_the_seed_commands_and_fails_validation() -> None:
    proc = _harness("paper=fake_hr1", "dry_run=true", "as_published=true", "profile=full")
    assert proc.returncode == 2  # as the real run: the same problem, the same exit status
    assert "swift sft" in proc.stdout and "--train_type full" in proc.stdout
    assert "custom_reward_function.path=" in proc.stdout
    assert "main_ppo never reads it" in proc.stderr
    assert "train_batch_size (32) < actor_rollout_ref.actor.ppo_mini_batch_size (128)" in proc.stderr


def test_stage_subset_is_taken_from_the_command_line() -> None:
    inv = parse_invocation(["paper=fakexplain", "stages=[sft,merge_sft]", "stages.sft.learning_rate=1e-5"])
    assert inv.stage_subset == ["sft", "merge_sft"]
    assert inv.overrides == ["paper=fakexplain", "stages.sft.learning_rate=1e-5"]
    # one stage without brackets is that stage (Hydra would replace the stage definitions with a
    # string: "the paper config defines no stages"); null still reaches Hydra
    assert parse_invocation(["paper=fakexplain", "stages=sft"]).stage_subset == ["sft"]
    assert parse_invocation(["stages=null"]).overrides == ["stages=null"]
    with pytest.raises(ConfigError, match=r"stages=\[\] selects no stage"):
        parse_invocation(["paper=fakexplain", "stages=[]"])


def test_table_runs_without_a_table_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", "table_runs=[best]"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: table_runs: selects runs of a table: add table=<id> (or table=all)"
    )


def test_unknown_stage_in_subset_is_an_error() -> None:
    proc = _harness("paper=fakexplain", "dry_run=true", "profile=full", "stages=[sfft]")
    assert proc.returncode == 2
    assert "no stage 'sfft' in this pipeline (did you mean: sft" in proc.stderr


@pytest.mark.parametrize(
    "overrides,switches",
    [
        (["paper=fakexplain"], True),
        (["paper=fakexplain", "cluster=local"], True),
        (["paper=fakexplain", "profile=full"], False),
        (["paper=fakexplain", "cluster=slurm"], False),
        (["paper=fakexplain", "cluster=torchrun"], False),
    ],
)
def test_cpu_machine_falls_back_to_smoke_only_locally(
    overrides: list[str], switches: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.invoke.gpu_available", lambda: False)
    out = io.StringIO()
    result = _auto_profile(list(overrides), out)
    assert ("profile=smoke" in result) is switches
    if switches:
        assert out.getvalue().strip() == (
            "No GPU found: running the CPU smoke profile (tiny model, synthetic "
            "data). For the full recipe: make reproduce PAPER=fakexplain PROFILE=full"
        )
    else:
        assert out.getvalue() == ""


def test_gpu_machine_runs_the_full_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.invoke.gpu_available", lambda: True)
    assert _auto_profile(["paper=fakexplain"], io.StringIO()) == ["paper=fakexplain"]


def test_help() -> None:
    proc = _harness("--help")
    assert proc.returncode == 0 and "dry_run=true" in proc.stdout


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_a_number_the_command_line_sets_is_finite(
    dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra reads nan and inf as floats and `nan < 0` is false: every range check let them
    through. cluster.gpu_memory_gb=nan was a traceback in the pre-flight; a nan learning rate
    reached the trainer."""
    overrides = [
        "cluster.gpu_memory_gb=nan",
        "stages.sft.learning_rate=1e999",  # inf once parsed
        "eval.sampling.temperature=-inf",
        "+stages.sft.extra=[1,nan]",
    ]
    code = main(
        ["paper=fakexplain", "profile=full", f"dry_run={dry_run}", f"paths.runs={tmp_path}", *overrides]
    )
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: cluster.gpu_memory_gb: must be a finite number, got nan",
        "error: stages.sft.learning_rate: must be a finite number, got inf",
        "error: eval.sampling.temperature: must be a finite number, got -inf",
        "error: stages.sft.extra[1]: must be a finite number, got nan",
    ]
    assert list(tmp_path.iterdir()) == []
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", "stages.sft.learning_rate=1e-5"]) == 0


def test_flags_and_bare_words_say_which_override_to_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dry-run` was Hydra's "LexerNoViableAltException: --dry-run" and a bare `fakexplain` its
    "missing EQUAL at '<EOF>'": neither said what to type instead."""
    argv = ["fakexplain", "--dry-run", "--profile", "smoke", "--run_name=x", "-n", f"paths.runs={tmp_path}"]
    assert main(argv) == 2
    lead = "not an option: everything after `python -m harness` is a Hydra override key=value (python -m harness --help lists the harness keys)"
    assert capsys.readouterr().err.splitlines() == [
        "error: fakexplain: not an override: write key=value; did you mean paper=fakexplain?",
        f"error: --dry-run: {lead}; did you mean dry_run=true?",
        f"error: --profile smoke: {lead}; did you mean profile=smoke?",
        f"error: --run_name=x: {lead}; did you mean run_name=x?",
        f"error: -n: {lead}",
        "error: paper: choose a paper with paper=<name>; available: " + ", ".join(PAPERS),
    ]
    assert list(tmp_path.iterdir()) == []
    # a deletion has no "=" and is still an override
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", "~stages.sft.warmup_ratio"]) == 0
    assert "not an o" not in capsys.readouterr().err


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_submit_without_a_scheduler_is_refused(
    dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`submit=true` without cluster=slurm ran the whole pipeline on the machine it was typed on
    (found by typing it: the smoke SFT started training)."""
    for cluster in ("local", "torchrun"):
        argv = [
            "paper=fakexplain",
            "profile=smoke",
            f"cluster={cluster}",
            "submit=true",
            f"dry_run={dry_run}",
        ]
        assert main([*argv, f"paths.runs={tmp_path}"]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"error: submit: cluster={cluster} runs the stages from this command and queues nothing, so "
            "there is nothing to submit: add cluster=slurm to submit to the scheduler, or leave submit out"
        ]
    assert list(tmp_path.iterdir()) == []
    slurm = ["paper=fakexplain", "profile=smoke", "cluster=slurm", "submit=true", "dry_run=true"]
    assert main([*slurm, f"paths.runs={tmp_path}"]) == 0


def test_two_sweep_members_that_would_be_one_run_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run name is one run directory: the second member found the first's stages completed and
    the report across counted it twice (`-m data.fold=0,1,0`: fold 0 weighed double in the mean)."""
    common = [
        "paper=fakexplain",
        "profile=full",
        "dry_run=false",
        f"paths.runs={tmp_path}",
        "run_name=r",
        "-m",
    ]
    assert main([*common, "data.fold=0,1,0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: -m: data.fold=0 and data.fold=0 are the same run r__data.fold-0; sweep each value once"
    ]
    assert main([*common, "+stages.sft.tag=a/b,a_b"]) == 2  # one folder name once sanitised
    assert capsys.readouterr().err.splitlines() == [
        "error: -m: +stages.sft.tag=a/b and +stages.sft.tag=a_b are the same run r__stages.sft.tag-a_b; "
        "sweep each value once"
    ]
    assert list(tmp_path.iterdir()) == []
    assert (
        main(["paper=fakexplain", "profile=full", "dry_run=true", "run_name=r", "-m", "data.fold=0,1"]) == 0
    )


def test_a_sweep_of_a_table_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Each member ran the paper's recipe: the table was left out without a word."""
    assert (
        main(["paper=fakexplain", "profile=full", "dry_run=true", "table=table4", "-m", "data.fold=0,1"]) == 2
    )
    assert capsys.readouterr().err.splitlines() == [
        "error: -m: a sweep runs the recipe once per value and does not run tables; run the table once per "
        "value instead (table=table4 data.fold=0, ...)"
    ]


def test_an_on_off_switch_takes_true_or_false_only(capsys: pytest.CaptureFixture[str]) -> None:
    """`submit=no` composed as the string "no", which Python reads as true: the chain was
    submitted. Every switch of conf/config.yaml now takes true or false, every wrong one named."""
    from harness.config import SWITCHES

    assert main(["paper=fakexplain", "profile=full", "submit=no", "wait=maybe", "allow_oom_risk=1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: submit: 'no' is not true or false",
        "error: wait: 'maybe' is not true or false",
        "error: allow_oom_risk: 1 is not true or false",
    ]
    for switch in SWITCHES:  # each is checked, and each is a key of conf/config.yaml
        assert main(["paper=fakexplain", "profile=full", f"{switch}=yes"]) == 2
        assert capsys.readouterr().err.strip() == f"error: {switch}: 'yes' is not true or false"
