"""A fifth paper that lives outside the repository (tests/plugin_paper/, copied to a temporary folder).

Its Hydra configs are found through `hydra.searchpath`, its data source, synthetic layout, GRPO
reward and response format through the registries its package (`quokka`, on PYTHONPATH) joins
when the paper's `plugins: [quokka]` gets it imported. The fast tests compose it, dry-run it and
validate it, and show what fails without the search path or the plugin; the slow one runs its smoke
pipeline end to end (data, SFT, GRPO through ms-swift with its own reward, evaluation with its own
parser, report). No file of harness/, launch/, data_prep/ or rewards/ names it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "plugin_paper"
NAME = "quokka"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """The paper's folder, outside the repository."""
    folder = tmp_path / "elsewhere"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert not folder.resolve().is_relative_to(REPO)
    return folder


def _env(folder: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIGI_PLUGINS", "PYTHONPATH")}
    if folder is not None:
        env["PYTHONPATH"] = str(folder)
    return env


def _harness(folder: Path, *args: str, env_folder: Path | None = None, timeout: int = 300):
    argv = [
        sys.executable,
        "-m",
        "harness",
        f"paper={NAME}",
        f"hydra.searchpath=[file://{folder}/conf]",
        *args,
    ]
    return subprocess.run(
        argv, cwd=REPO, env=_env(env_folder or folder), capture_output=True, text=True, timeout=timeout
    )


def test_no_project_file_names_the_fifth_paper() -> None:
    found = [
        str(path.relative_to(REPO))
        for package in ("harness", "launch", "data_prep", "rewards", "common", "conf")
        for path in (REPO / package).rglob("*")
        if path.is_file() and path.suffix != ".pyc" and NAME in path.read_text(errors="ignore").lower()
    ]
    assert found == []


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_composes_dry_runs_and_validates_from_outside(outside: Path, profile: str) -> None:
    proc = _harness(outside, f"profile={profile}", "dry_run=true")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"# paper: {NAME}  profile: {profile}")
    # Every stage's process gets the plugin; the data stages name the plugin's source and layout.
    commands = [line for line in lines if not line.startswith("#")]
    assert commands and all(line.startswith("AIGI_PLUGINS=quokka ") or " AIGI_PLUGINS=quokka " in line
                            for line in commands)  # fmt: skip
    assert any("-m data_prep convert" in c and "--source quokka" in c for c in commands)
    # The reward registered by the plugin is the file ms-swift's GRPO scores with; the evaluation
    # parses answers with the plugin's format.
    grpo = next(c for c in commands if " swift rlhf " in c)
    assert f'"path": "{outside / "quokka" / "reward.py"}"' in grpo
    assert '"response_format": "quokka_verdict"' in next(c for c in commands if "-m harness.evaluation" in c)
    if profile == "smoke":
        assert any("-m data_prep synth --layout quokka" in c for c in commands)


def test_without_the_search_path_the_paper_is_unknown(outside: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", f"paper={NAME}", "dry_run=true"], cwd=REPO,
                          env=_env(outside), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2 and f"unknown paper '{NAME}'" in proc.stderr


def test_without_the_package_the_error_says_how_to_make_it_importable(outside: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _harness(outside, "dry_run=true", env_folder=empty)
    assert proc.returncode == 2
    assert "plugins: cannot import plugin module 'quokka'" in proc.stderr and "PYTHONPATH" in proc.stderr


def test_validation_names_what_the_registries_do_not_know(outside: Path) -> None:
    """With the plugin not loaded, validation reports its source, layout, format and reward by key."""
    proc = _harness(outside, "profile=smoke", "dry_run=true", "plugins=[]", "reward.path=/dev/null")
    assert proc.returncode == 2, proc.stdout + proc.stderr  # as the real run would
    err = proc.stderr
    assert "error: stages.prepare_train.source: unknown data source 'quokka'" in err
    assert "error: stages.synth_data.layout: unknown synth layout 'quokka'" in err
    assert "error: stages.eval.options.response_format: unknown response format 'quokka_verdict'" in err
    unknown_reward = _harness(outside, "dry_run=true", "plugins=[]")
    assert unknown_reward.returncode == 2
    assert "reward.path" in unknown_reward.stderr and "unknown GRPO reward 'quokka'" in unknown_reward.stderr


def test_data_prep_check_and_synth_work_for_the_plugin_source(outside: Path, tmp_path: Path) -> None:
    env = {**_env(outside), "AIGI_PLUGINS": NAME}
    run = [sys.executable, "-m", "data_prep"]
    made = subprocess.run([*run, "synth", "--layout", NAME, "--output-dir", str(tmp_path / "raw")],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert made.returncode == 0, made.stderr
    ok = subprocess.run([*run, "check", "--source", NAME, "--input", str(tmp_path / "raw" / "train.csv")],
                        env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "quokka is in place: 8 records, all convertible (fake 4, real 4)" in ok.stdout
    victim = sorted((tmp_path / "raw" / "train").iterdir())[0]
    victim.unlink()
    broken = subprocess.run([*run, "check", "--source", NAME, "--input", str(tmp_path / "raw" / "train.csv")],
                            env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert broken.returncode == 1 and "image_missing" in broken.stderr and victim.name in broken.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("tiny_model_cache")
def test_the_fifth_paper_runs_its_smoke_pipeline_end_to_end(outside: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = _harness(outside, "profile=smoke", "run_name=e2e", f"paths.runs={runs}", timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    run_dir = runs / NAME / "e2e"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    assert list(stages) == ["tiny_model", "synth_data", "prepare_train", "prepare_test", "sft", "grpo", "eval",
                            "report"]  # fmt: skip
    assert all(s["status"] == "completed" and s["exit_code"] == 0 for s in stages.values()), stages
    # The tiny model's tokenizer learned the plugin's answers (its registered format's corpus): no
    # project text has "[[", so without the plugin it would be two tokens.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "tiny_model")
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode("[[fake]]", add_special_tokens=False)]
    assert pieces == ["[[", "fake", "]]"], pieces
    # Its source converted its layout's data; nothing was rejected.
    for name, rows in (("prepare_train", 4), ("prepare_test", 2)):
        stats = json.loads((run_dir / name / "stats.json").read_text())
        assert stats["read"] == stats["converted"] == rows and stats["rejected_total"] == 0, stats
    # ms-swift's GRPO scored rollouts with the plugin's reward (its own score keys, the copied file).
    reward_file = json.loads(stages["grpo"]["env"]["AIGI_REWARD"])["path"]
    assert reward_file == str(run_dir / "reward" / "reward.py")
    calls = [json.loads(line) for line in (runs / "quokka_reward_calls.jsonl").read_text().splitlines()]
    assert calls and all("quokka_format" in part for call in calls for part in call["parts"])
    assert (run_dir / "grpo" / "final").resolve().name.startswith("checkpoint-")
    # The evaluation parsed every answer with the plugin's format; the report has its table.
    predictions = [
        json.loads(line) for line in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(predictions) == 2
    for row in predictions:
        assert row["parse_ok"] or row["parse_error"] == "quokka: the answer must be [[real]] or [[fake]]", row
    assert "### Quokka detection accuracy" in (run_dir / "report.md").read_text()
