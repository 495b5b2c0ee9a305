"""A stage's `note:` reaches the user: in the dry run under its `# stage:` line and with its
missing inputs (the only message a user without an unpublished file sees before anything runs).
Also the AIGI-Holmes download stage's rendered `--unpack` pairs (issue 12)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.cli import main
from harness.validate import validate_plan

from .conftest import plan_for


def _missing(paper: str, tmp_path: Path, *overrides: str) -> dict[str, str]:
    plan = plan_for(paper, f"paths.data={tmp_path}/data", f"paths.models={tmp_path}/models", *overrides)
    return {p.key: p.message for p in validate_plan(plan, check_paths=True)}


def _dry_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> dict[str, list[str]]:
    """Stage name -> the lines its dry run prints after `# stage: <name>`."""
    assert main([*args, "profile=full", "dry_run=true", f"paths.runs={tmp_path}/runs"]) == 0
    sections: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("# stage: "):
            current = sections.setdefault(line.removeprefix("# stage: "), [])
        elif line.startswith("# pre-flight:"):
            break
        elif sections:
            current.append(line)
    return sections


def test_a_stage_note_follows_its_missing_input(tmp_path: Path) -> None:
    key = "stages.prepare_data.inputs.input"
    note = "your own export of the set, one folder per class"
    problems = _missing("fakexplain", tmp_path, f"+stages.prepare_data.note='{note}'")
    assert problems[key] == (
        f"{tmp_path}/data/FakeXplained does not exist; put the file there or point {key} at it "
        f"(stage prepare_data: {note})"
    )


def test_a_stage_note_is_printed_in_the_dry_run_on_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    note = "line one\n  line two"  # a `|` block: the dry run keeps it on one comment line
    sections = _dry_run(capsys, tmp_path, "paper=fakexplain", f"+stages.prepare_data.note='{note}'")
    assert sections["prepare_data"][0] == "# note: line one line two"
    assert not [line for line in sections["sft"] if line.startswith("# note:")]  # no note, no line


def test_a_missing_aigi_holmes_dpo_file_says_the_set_is_unpublished_and_its_format(tmp_path: Path) -> None:
    problem = _missing("aigi_holmes", tmp_path)["stages.prepare_dpo.inputs.input"]
    assert problem.startswith(f"{tmp_path}/data/AIGI-Holmes-DPO/DPODATA.jsonl does not exist")
    assert "is not published" in problem and "point data.dpo at your own jsonl" in problem
    for field in ('"query"', '"response"', '"rejected_response"', '"images"'):
        assert field in problem


def test_the_aigi_holmes_dry_run_shows_the_dpo_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    note = _dry_run(capsys, tmp_path, "paper=aigi_holmes")["prepare_dpo"][0]
    assert note.startswith("# note: AIGI-Holmes' DPO set (Holmes-DPOSet) is not published")
    assert '"rejected_response"' in note


def test_the_aigi_holmes_download_unpacks_the_published_archives(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sections = _dry_run(capsys, tmp_path, "paper=aigi_holmes", f"paths.data={tmp_path}/data")
    (command,) = sections["download_data"]
    argv = shlex.split(command)
    assert argv[argv.index("--local-dir") + 1] == f"{tmp_path}/data/AIGI-Holmes-Dataset"
    # dataset/ is where SFTDATA.jsonl's ./dataset/{0_real,1_fake}/ paths point; TestSet/ is data.testset.
    pairs = [argv[i + 1] for i, word in enumerate(argv) if word == "--unpack"]
    assert pairs == ["dataset_huggingface.zip=dataset", "TestSet.zip=TestSet"]
