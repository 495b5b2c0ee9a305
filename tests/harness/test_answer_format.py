"""An evaluation whose response format cannot read what its model was trained to write is an
error of the plan, before anything runs (harness/validate/answer_format.py).

The label-only ablation (002 §5.3) trains the verdict block alone; evaluated with the recipe's
think_tag_verdict every answer is unparsable and the column reads 0 (found by the full-size smoke
Table 4 run). The samples come from the data sources' own converters
(tests/data_prep/test_fakexplain_ablations.py ties them to the rows they write)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import Problem
from harness.cli import main
from harness.validate import validate_plan
from harness.validate.answer_format import answer_format_problems

from .conftest import PAPERS, plan_for

REPO = Path(__file__).resolve().parents[2]
LABEL_ONLY = "+stages.prepare_data.options.label_only=true"


def _format_problems(paper: str, *overrides: str) -> list[Problem]:
    plan = plan_for(paper, *overrides)
    return answer_format_problems(plan, plan.stages)


def test_label_only_training_with_the_full_format_is_one_problem_naming_the_fix() -> None:
    problems = _format_problems("fakexplain", "variant=staged", LABEL_ONLY)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.key == "stages.eval_sft.options.response_format"
    message = problem.message
    assert message.startswith("think_tag_verdict cannot read the answers stage prepare_data trains")
    assert "'<verdict>real</verdict>': <think> must appear exactly once" in message
    # Every evaluation of a model trained on that data, and none of the base model (eval_base).
    affected = message.split("every answer of ", 1)[1].split(" would count", 1)[0].split(", ")
    assert affected[0] == "eval_sft" and "eval" in affected and "eval_alpha" in affected
    assert "eval_base" not in affected
    assert message.endswith("set eval.response_format to free_text_verdict or verdict_tag")


def test_label_only_with_the_verdict_tag_format_passes_the_whole_validation() -> None:
    plan = plan_for("fakexplain", "variant=staged", LABEL_ONLY, "eval.response_format=verdict_tag")
    assert answer_format_problems(plan, plan.stages) == []
    assert [str(p) for p in validate_plan(plan, check_paths=False)] == []


def test_the_full_format_reading_label_only_answers_fails_validate_plan() -> None:
    plan = plan_for("fakexplain", LABEL_ONLY)
    problems = [str(p) for p in validate_plan(plan, check_paths=False)]
    assert len(problems) == 1 and "response_format: think_tag_verdict cannot read" in problems[0]


def test_a_base_model_evaluation_is_not_judged_by_training_data() -> None:
    """eval_base reads the untrained model: whatever format it is given, the data does not bind it."""
    plan = plan_for("fakexplain", LABEL_ONLY)
    assert answer_format_problems(plan, [plan.stage("eval_base")]) == []


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("+stages.prepare_data.options.drop=[boxes]",),
        ("+stages.prepare_data.options.drop=[captions,tags]",),
        ("data.region_syntax=tokens",),
        ("data.region_syntax=internvl", "model.min_pixels=null", "model.max_pixels=null"),
        ("profile=full",),
        ("profile=full", "variant=staged_swift", "model=internvl2_5_8b"),
    ],
    ids=["recipe", "no_bbox", "no_caption_no_tags", "tokens", "internvl", "full", "full_internvl"],
)
def test_what_the_recipes_train_is_read_by_their_format(overrides: tuple[str, ...]) -> None:
    assert _format_problems("fakexplain", *overrides) == []


def test_fake_hr1_answers_are_read_by_think_answer_and_not_by_fakexplains_format() -> None:
    assert _format_problems("fake_hr1") == []
    assert _format_problems("fake_hr1", "+stages.prepare_data.options.response_style=no_think") == []
    problems = _format_problems("fake_hr1", "eval.response_format=think_tag_verdict")
    # Both training sets (001: GenImage's verdict-only rows and FakeClue's explanations).
    assert [p.message.split(" trains", 1)[0] for p in problems] == [
        "think_tag_verdict cannot read the answers stage prepare_genimage",
        "think_tag_verdict cannot read the answers stage prepare_fakeclue",
    ]
    for problem in problems:
        assert problem.key == "stages.eval.options.response_format"
        assert "think_answer" in problem.message.rsplit("set eval.response_format to ", 1)[1]


@pytest.mark.parametrize("paper", PAPERS)
def test_every_recipe_evaluates_in_the_format_it_trains(paper: str) -> None:
    assert _format_problems(paper, "profile=full") == []
    assert _format_problems(paper) == []


def test_the_cli_refuses_the_run_before_launching_anything(tmp_path) -> None:
    """As a user meets it: exit 2, one line naming the key, nothing written (a dry run: the same
    validation a real run does first, without starting the pipeline should the check be gone)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "paper=fakexplain",
            LABEL_ONLY,
            f"paths.runs={tmp_path}/runs",
            "dry_run=true",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith("error: stages.eval_sft.options.response_format: think_tag_verdict cannot")
    assert not (tmp_path / "runs").exists()


def test_a_table_stops_before_its_first_run_when_a_run_cannot_read_its_answers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each run validates when it starts; the table checks every run first, so a run that would
    fail does not do so after the runs before it trained. One line names both runs."""
    started: list[object] = []
    monkeypatch.setattr("harness.table.execute", lambda *args, **kwargs: started.append(args) or 0)
    code = main(
        [
            "paper=fakexplain",
            "profile=smoke",
            "table=table4",
            "table_runs=[best,no_bbox]",
            LABEL_ONLY,
            f"paths.runs={tmp_path}/runs",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and not started and not (tmp_path / "runs").exists()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    # the table's runs keep the stages their column reads (run_edit keep [eval])
    assert errors[0].startswith("error: stages.eval.options.response_format: think_tag_verdict cannot")
    assert errors[0].endswith("[table table4, runs: best, no_bbox]")


def test_the_tables_label_only_runs_pass_the_check_before_the_first_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[object] = []
    monkeypatch.setattr("harness.table.execute", lambda *args, **kwargs: started.append(args) or 0)
    monkeypatch.setattr("harness.table.report_across", lambda *args, **kwargs: 0)
    code = main(
        [
            "paper=fakexplain",
            "profile=smoke",
            "table=table4",
            "table_runs=[label_only]",
            f"paths.runs={tmp_path}/runs",
        ]
    )
    assert code == 0 and len(started) == 1


def test_a_source_that_cannot_write_its_answers_is_named_before_anything_runs(tmp_path: Path) -> None:
    """Without the check the synthetic data stage would run and prepare_data fail on the file. A
    dry run (check_paths false) may render another machine's paths: no problem there."""
    missing = tmp_path / "vocabulary.yaml"
    plan = plan_for("fakexplain", f"stages.prepare_data.options.vocabulary={missing}")
    expected = (
        "stages.prepare_data.options: source fakexplained cannot write its answers under these options: "
        f"data_prep config file not found: {missing}"
    )
    assert [str(p) for p in answer_format_problems(plan, plan.stages)] == [expected]
    assert expected in [str(p) for p in validate_plan(plan, check_paths=True)]
    assert [str(p) for p in validate_plan(plan, check_paths=False)] == []
