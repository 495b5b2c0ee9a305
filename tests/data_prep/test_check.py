"""`python -m data_prep check` for every registered source, as the recipes use it.

Each paper's smoke pipeline writes its synthetic data (its own `synth` stages, through the CLI)
and then converts it: `check` with the same source and options passes that data, and names a
truncated image; a missing input says what was expected. Together the pipelines cover every
registered source.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from data_prep.check import check_source
from data_prep.sources import SOURCES
from tests.conftest import PAPERS

from .conftest import run_cli


@cache
def _convert_stages(paper: str) -> list[tuple[str, str, list[str], dict]]:
    """(stage, source, inputs, options) of the paper's smoke conversions, inputs not yet written."""
    from harness.config import compose
    from harness.plan import build_plan

    plan = build_plan(compose([f"paper={paper}", "profile=smoke"]), run_name="check")
    stages = []
    for planned in plan.stages:
        args = planned.spec.trainer_args
        if planned.kind == "data_prep" and args.get("command", "convert") == "convert":
            inputs = planned.ctx.inputs.get("input")
            inputs = inputs if isinstance(inputs, list) else [inputs]
            stages.append((planned.name, args["source"], inputs, dict(planned.ctx.options)))
    return stages


def _write_synthetic_data(paper: str, runs: Path) -> list[tuple[str, str, list[str], dict]]:
    """Run the paper's smoke `synth` stages into `runs`; its conversions' (stage, source, inputs, options)."""
    from harness.config import compose
    from harness.plan import build_plan

    plan = build_plan(compose([f"paper={paper}", "profile=smoke", f"paths.runs={runs}"]), run_name="check")
    conversions = []
    for planned in plan.stages:
        args = planned.spec.trainer_args
        if planned.kind != "data_prep":
            continue
        if args.get("command") == "synth":
            argv = [sys.executable, *planned.rendered.argv[1:]]
            made = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            assert made.returncode == 0, made.stderr
        elif args.get("command", "convert") == "convert":
            inputs = planned.ctx.inputs.get("input")
            conversions.append(
                (
                    planned.name,
                    args["source"],
                    inputs if isinstance(inputs, list) else [inputs],
                    dict(planned.ctx.options),
                )
            )
    return conversions


def test_the_smoke_pipelines_convert_every_registered_source() -> None:
    covered = {source for paper in PAPERS for _, source, _, _ in _convert_stages(paper)}
    assert covered == set(SOURCES.names())


@pytest.mark.parametrize("paper", PAPERS)
def test_check_passes_what_the_pipeline_converts_and_names_a_truncated_image(
    paper: str, tmp_path: Path
) -> None:
    conversions = _write_synthetic_data(paper, tmp_path)
    assert conversions
    for stage, source, inputs, options in conversions:
        result = check_source(source, [Path(p) for p in inputs], options=options)
        assert result.ok, (stage, result.problems)
    victim = sorted(tmp_path.rglob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:40])  # a download cut short
    problems = [
        problem
        for _, source, inputs, options in conversions
        for problem in check_source(
            source, [Path(p) for p in inputs], options=options, verify_images=True
        ).problems
    ]
    assert any("image_corrupt" in p and victim.name in p for p in problems), problems
    missing = check_source(conversions[0][1], [tmp_path / "nowhere"], options=conversions[0][3])
    assert not missing.ok and "nowhere" in missing.problems[0]


def test_check_through_the_cli(tmp_path: Path) -> None:
    from data_prep.synth_layouts import LAYOUTS

    (path,) = LAYOUTS.get("testset_jsonl").generate(tmp_path / "raw", num_fake=2, num_real=1)
    ok = run_cli("check", "--source", "testset_jsonl", "--input", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "testset_jsonl is in place: 3 records, all convertible (fake 2, real 1)" in ok.stdout
    bad = run_cli(
        "check", "--source", "testset_jsonl", "--input", str(path), "--options", '{"label_valuez": {}}'
    )
    assert bad.returncode == 2 and "label_valuez" in bad.stderr
    no_root = run_cli("check", "--source", "testset_folders", "--input", str(tmp_path), "--image-root", "/x")
    assert no_root.returncode == 2 and "source testset_folders has no image_root option" in no_root.stderr


def test_check_refuses_the_options_convert_would_refuse(synth_raw: Path) -> None:
    """fakexplained's check reads the files only (its check_layout); it ignored --options, so a fold
    outside num_folds or a template count out of range said "in place" and convert then stopped."""
    from common.errors import ConfigError

    assert check_source("fakexplained", [synth_raw], options={"fold": 1}).ok
    assert check_source("fakexplained", [synth_raw], options={"fold": 9}).problems == [
        "fold must be in [0, 3] for num_folds=4, got 9"
    ]
    assert check_source("fakexplained", [synth_raw], options={"templates_real": 0}).problems == [
        "fakexplained options.templates_real: must be between 1 and 3 (the real templates in the templates file), "
        "got 0"
    ]
    with pytest.raises(
        ConfigError, match=r"fakexplained options.foldd: unknown key \(did you mean: fold\?\)"
    ):
        check_source("fakexplained", [synth_raw], options={"foldd": 1})
