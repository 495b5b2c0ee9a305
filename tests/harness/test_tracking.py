"""tracking=tensorboard|wandb|swanlab|none sets every training stage's tracker, for both trainers.

The rendered commands of every paper are checked against the pinned trainers (ms-swift's parser,
verl's config tree); the report names where each stage's tracker run is, read from real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.cli import main
from harness.plan import Plan
from harness.render.tracking import TRACKERS
from harness.report.run_dir import load_run
from harness.report.tracking import render_tracking, tracker_runs
from harness.validate import validate_plan
from harness.validate.environment import check_environment

from .conftest import PAPERS, plan_for

RUN = "tracked"


def _flag(argv: tuple[str, ...], flag: str) -> list[str]:
    """The values after `flag` (up to the next --flag); [] when absent."""
    if flag not in argv:
        return []
    i = argv.index(flag) + 1
    values = []
    while i < len(argv) and not argv[i].startswith("--"):
        values.append(argv[i])
        i += 1
    return values


def _override(argv: tuple[str, ...], key: str) -> str | None:
    for item in argv:
        if item.startswith(key + "="):
            return item[len(key) + 1 :]
    return None


def _tracked(plan: Plan) -> list:
    stages = [s for s in plan.stages if s.stage_kind.tracked]
    assert stages, plan.paper
    return stages


@pytest.mark.parametrize("tracker", TRACKERS)
@pytest.mark.parametrize("paper", PAPERS)
def test_every_training_stage_of_every_paper_reports_to_the_chosen_tracker(paper: str, tracker: str) -> None:
    plan = plan_for(paper, f"tracking={tracker}", run_name=RUN)
    assert validate_plan(plan, check_paths=False) == []  # ms-swift's parser and verl's config accept it
    for planned in _tracked(plan):
        argv, env, stage_dir = planned.rendered.argv, planned.rendered.env, Path(planned.ctx.stage_dir)
        label = f"{RUN}-{planned.name}"
        if planned.kind.startswith("swift"):
            assert _flag(argv, "--report_to") == [tracker]
            assert _flag(argv, "--run_name") == ([] if tracker == "none" else [label])
            assert _flag(argv, "--logging_dir") == (
                [str(stage_dir / "tensorboard")] if tracker == "tensorboard" else []
            )
            if tracker == "swanlab":
                assert _flag(argv, "--swanlab_project") == [paper]
                assert _flag(argv, "--swanlab_exp_name") == [label]
                assert _flag(argv, "--swanlab_mode") == ["local"]
            else:
                assert not [a for a in argv if a.startswith("--swanlab")]
        else:
            loggers = ["console", "file"] + ([] if tracker == "none" else [tracker])
            assert _override(argv, "trainer.logger") == f"[{','.join(loggers)}]"
            assert _override(argv, "trainer.project_name") == paper
            assert _override(argv, "trainer.experiment_name") == label
            assert env.get("TENSORBOARD_DIR") == (
                str(stage_dir / "tensorboard") if tracker == "tensorboard" else None
            )
        if tracker == "wandb":
            assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == str(stage_dir)
            assert env["WANDB_PROJECT"] == paper and env["WANDB_RUN_GROUP"] == RUN
        else:
            assert not [k for k in env if k.startswith("WANDB_")]
        if tracker == "swanlab":
            assert env["SWANLAB_MODE"] == "local" and env["SWANLAB_LOG_DIR"] == str(stage_dir / "swanlog")
        else:
            assert not [k for k in env if k.startswith("SWANLAB_")]


def test_the_default_is_tensorboard_and_the_smoke_grpo_stage_is_tracked_too() -> None:
    plan = plan_for("fakexplain", "profile=smoke", run_name=RUN)
    assert plan.cfg.tracking.name == "tensorboard"
    names = {s.name for s in _tracked(plan)}
    assert {"sft", "grpo", "grpo_cpu"} <= names
    for name in ("sft", "grpo_cpu"):
        assert _flag(plan.stage(name).rendered.argv, "--report_to") == ["tensorboard"]


def test_project_and_mode_are_overridable_and_checked() -> None:
    plan = plan_for("fake_hr1", "tracking=wandb", "tracking.project=my-team", "tracking.mode=online")
    grpo = plan.stage("grpo").rendered
    assert _override(grpo.argv, "trainer.project_name") == "my-team" and grpo.env["WANDB_MODE"] == "online"
    with pytest.raises(
        ConfigError, match=r"tracking\.mode: 'cloud' is not a wandb mode; choose one of offline, online"
    ):
        plan_for("fake_hr1", "tracking=wandb", "tracking.mode=cloud")


@pytest.mark.parametrize(
    "override, key",
    [
        ("+stages.sft.report_to=wandb", "stages.sft.report_to"),
        ("+stages.sft.logging_dir=/tmp/tb", "stages.sft.logging_dir"),
        ("+stages.grpo.trainer.logger=[console]", "stages.grpo.trainer.logger"),
        ("+stages.grpo.trainer.experiment_name=x", "stages.grpo.trainer.experiment_name"),
    ],
)
def test_a_recipe_cannot_set_the_tracker_behind_trackings_back(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_for("fake_hr1", override)
    assert f"{key}: is set by tracking=tensorboard" in str(info.value)


def test_the_seeds_own_tracker_comes_back_as_published() -> None:
    from harness.plan import build_plan

    from .conftest import load_published

    grpo = build_plan(load_published("fake_hr1"), run_name="golden").stage("grpo").rendered
    assert _override(grpo.argv, "trainer.logger") == "[console,tensorboard]"
    assert _override(grpo.argv, "trainer.project_name") == "verl_grpo_example_geo3k"
    assert _override(grpo.argv, "trainer.experiment_name") == "test"
    sft = build_plan(load_published("fake_hr1"), run_name="golden").stage("sft").rendered
    assert "--report_to" not in sft.argv  # the seed states none: nothing is added


@pytest.mark.parametrize("tracker", ["wandb", "swanlab"])
def test_api_keys_travel_only_in_the_environment(tracker: str, monkeypatch, capsys) -> None:
    secrets = {"WANDB_API_KEY": "wandb-key-0123456789", "SWANLAB_API_KEY": "swanlab-key-9876543210"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    plan = plan_for(
        "fakexplain", f"tracking={tracker}", "tracking.mode=" + ("online" if tracker == "wandb" else "cloud")
    )
    for planned in plan.stages:
        text = json.dumps([planned.rendered.argv, dict(planned.rendered.env)])
        assert not [v for v in secrets.values() if v in text], planned.name
    assert main(["paper=fakexplain", "profile=full", f"tracking={tracker}", "dry_run=true"]) == 0
    out = capsys.readouterr()
    assert not [v for v in secrets.values() if v in out.out + out.err]
    # ms-swift would take the key as --swanlab_token: refused, and the message does not echo it.
    with pytest.raises(ConfigError, match="export SWANLAB_API_KEY in the environment") as info:
        plan_for("fakexplain", "tracking=swanlab", f"+stages.sft.swanlab_token={secrets['SWANLAB_API_KEY']}")
    assert secrets["SWANLAB_API_KEY"] not in str(info.value)


def test_a_misspelt_tracker_is_one_error_listing_the_choices(capsys) -> None:
    code = main(["paper=fakexplain", "profile=full", "tracking=tensorbord", "dry_run=true"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert (
        "error: tracking: unknown tracking 'tensorbord' (did you mean: tensorboard?); "
        "available: none, swanlab, tensorboard, wandb"
    ) in err


def test_a_tracker_that_is_not_installed_is_refused_before_launch() -> None:
    plan = plan_for("fakexplain", "profile=smoke", "tracking=swanlab")
    selected = [s for s in plan.stages if not s.skip_reason]
    problems = check_environment(
        plan, selected, has_module=lambda m: m != "swanlab", cuda_torch=lambda: False
    )
    assert {p.key for p in problems} == {"stages.sft", "stages.grpo_cpu"}
    assert all("swanlab (the swanlab tracker, tracking)" in p.message for p in problems)
    assert all("pip install swanlab" in p.message and "GPU=1" not in p.message for p in problems)
    assert check_environment(plan, selected, has_module=lambda m: True, cuda_torch=lambda: False) == []


def _run_dir(tmp_path: Path, tracker: str, project: str = "fakexplain") -> Path:
    """A run folder as the harness writes it: manifest, resolved config, one SFT stage and its log."""
    run = tmp_path / "fakexplain" / "r1"
    stage = run / "sft"
    stage.mkdir(parents=True)
    log = run / "logs" / "sft.log"
    log.parent.mkdir()
    log.write_text("training...\n")
    manifest = {
        "paper": "fakexplain",
        "run_name": "r1",
        "stages": [
            {
                "name": "sft",
                "kind": "swift_sft",
                "status": "completed",
                "stage_dir": str(stage),
                "log": str(log),
            },
            {"name": "grpo", "kind": "verl_grpo", "status": "skipped", "stage_dir": str(run / "grpo")},
            {"name": "eval", "kind": "eval", "status": "completed", "stage_dir": str(run / "eval")},
        ],
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "config.yaml").write_text(f"tracking:\n  name: {tracker}\n  project: {project}\n")
    return run


def test_the_report_names_each_stages_tensorboard_logdir_from_real_event_files(tmp_path: Path) -> None:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    run = _run_dir(tmp_path, "tensorboard")
    [entry] = tracker_runs(load_run(run))
    assert entry.where.startswith("nothing written")  # no events yet: said, not hidden
    writer = EventFileWriter(str(run / "sft" / "tensorboard"))
    writer.close()
    [entry] = tracker_runs(load_run(run))  # the skipped verl stage and the eval stage have none
    assert (entry.stage, entry.tracker, entry.project, entry.run) == (
        "sft",
        "tensorboard",
        "fakexplain",
        "r1-sft",
    )
    assert entry.where == f"{run / 'sft' / 'tensorboard'} (1 event file)"
    assert entry.view == f"tensorboard --logdir {run / 'sft' / 'tensorboard'}"
    text = render_tracking([load_run(run)])
    assert "tracker **tensorboard**, project `fakexplain`" in text and "`r1-sft`" in text


def test_the_report_names_the_wandb_run_folder_and_links_an_online_run(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, "wandb")
    folder = run / "sft" / "wandb" / "offline-run-20261202_110806-nh4b1yep"
    folder.mkdir(parents=True)
    [entry] = tracker_runs(load_run(run))
    assert entry.where == str(folder) and entry.view == f"wandb sync {folder}" and entry.link is None
    # What wandb prints at the end of an online run, in the stage's log.
    (run / "logs" / "sft.log").write_text(
        "wandb: 🚀 View run r1-sft at: https://wandb.ai/team/fakexplain/runs/nh4b1yep\n"
    )
    [entry] = tracker_runs(load_run(run))
    assert entry.link == "https://wandb.ai/team/fakexplain/runs/nh4b1yep"
    assert "https://wandb.ai/team/fakexplain/runs/nh4b1yep" in render_tracking([load_run(run)])


def test_a_run_without_a_tracker_says_so(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, "none")
    assert "no experiment tracker (tracking=none)" in render_tracking([load_run(run)])


def test_the_wandb_offline_reader_reads_what_wandb_writes(tmp_path: Path, monkeypatch) -> None:
    # The smoke test's reader (tests/smoke/tracker_files.py) against a real offline run.
    import wandb

    from tests.smoke.tracker_files import wandb_history, wandb_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_RUN_GROUP", "r1")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="fakexplain", name="r1-sft")
    for step in (1, 2, 3):
        run.log({"train/loss": 1.0 / step, "train/global_step": step})
    run.finish()
    wandb.teardown()  # wandb-core writes the file asynchronously; a trainer's exit does the same
    [path] = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    record = wandb_run(path)
    assert (record.project, record.display_name, record.run_group) == ("fakexplain", "r1-sft", "r1")
    rows = [(r["train/global_step"], r["train/loss"]) for r in wandb_history(path)]
    assert rows == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    # A file cut short (a SIGKILL) ends at its last complete record: a prefix of the rows.
    data = path.read_bytes()
    history = wandb_history(path)
    for size in range(len(data) - 1, 7, -97):
        cut = tmp_path / "cut.wandb"
        cut.write_bytes(data[:size])
        rows = wandb_history(cut)
        assert rows == history[: len(rows)]
    assert wandb_history(cut) == []  # the last cut keeps only the first records


def test_online_wandb_without_a_key_is_refused_before_launch(tmp_path: Path) -> None:
    from harness.validate.environment import check_tracker_login

    plan = plan_for("fakexplain", "profile=smoke", "tracking=wandb", "tracking.mode=online")
    selected = plan.stages
    [problem] = check_tracker_login(plan, selected, {}, tmp_path)
    assert problem.key == "tracking.mode" and "export WANDB_API_KEY" in problem.message
    assert check_tracker_login(plan, selected, {"WANDB_API_KEY": "k" * 40}, tmp_path) == []
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert check_tracker_login(plan, selected, {}, tmp_path) == []  # `wandb login` wrote it
    offline = plan_for("fakexplain", "profile=smoke", "tracking=wandb")
    assert check_tracker_login(offline, offline.stages, {}, tmp_path / "nowhere") == []
