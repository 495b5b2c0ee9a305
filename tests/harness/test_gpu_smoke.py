"""`make gpu-smoke` on a CPU machine: the gpu_smoke profile composes, renders and validates, and the
script's checks read a run directory correctly (a fabricated one here: no GPU to make a real one)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import compose
from harness.plan import build_plan
from harness.preflight import FITS, preflight_plan
from harness.validate import validate_plan

from .published import swift_flags, verl_overrides

REPO = Path(__file__).resolve().parents[2]


def _script():
    if "gpu_smoke" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_smoke", REPO / "scripts" / "gpu_smoke.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_smoke"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["gpu_smoke"]


def _plan(*overrides: str):
    return build_plan(
        compose(["paper=fakexplain", "profile=gpu_smoke", "run_name=gs", *overrides]), run_name="gs"
    )


def test_every_stage_runs_on_one_gpu_and_validates() -> None:
    plan = _plan()
    assert [s.name for s in plan.stages] == [
        "tiny_model", "synth_data", "prepare_data", "sft", "merge_sft", "grpo", "merge_grpo", "eval", "report"
    ]  # fmt: skip
    assert not [s.name for s in plan.stages if s.skip_reason]
    assert all(s.ctx.gpus_per_node == 1 for s in plan.stages)
    assert validate_plan(plan, check_paths=False) == []


def test_it_renders_the_recipes_gpu_paths() -> None:
    plan = _plan()
    sft = swift_flags(list(plan.stage("sft").rendered.argv))
    assert sft["--attn_impl"] == ["sdpa"] and sft["--deepspeed"] == ["zero3"] and sft["--max_steps"] == ["4"]
    grpo = verl_overrides(list(plan.stage("grpo").rendered.argv))
    assert grpo["actor_rollout_ref.rollout.name"] == "vllm"
    assert grpo["trainer.total_training_steps"] == 2
    assert grpo["reward.custom_reward_function.reward_kwargs.total_steps"] == 2  # step-driven weights
    assert grpo["reward.custom_reward_function.path"].endswith("rewards/fakexplain.py")
    assert grpo["actor_rollout_ref.model.use_remove_padding"] is False
    assert plan.stage("merge_grpo").rendered.argv[:4] == ("python3", "-m", "verl.model_merger", "merge")
    options = json.loads(plan.stage("eval").rendered.argv[-1])
    assert options["backend"] == "vllm" and options["soft_scoring"]["enabled"]
    assert options["collaborative_decoding"]["force_prefix"] is True
    assert options["collaborative_decoding"]["expert_probs"] == f"{plan.run_dir}/{_script().EXPERT_FILE}"
    assert plan.stage("eval").rendered.env["VLLM_WORKER_MULTIPROC_METHOD"] == "spawn"


def test_everything_fits_one_gpu_before_the_tiny_model_exists() -> None:
    report = preflight_plan(_plan())
    estimated = [s for s in report.stages if s.estimate is not None]
    assert [s.name for s in estimated] == ["sft", "merge_sft", "grpo", "merge_grpo", "eval"]
    for stage in estimated:
        assert stage.gpu_verdict(report.gpu_capacity) in (FITS, "-"), stage.name
        assert stage.vllm_verdict() in (FITS, "-"), stage.name


@pytest.mark.slow
def test_verls_own_config_check_accepts_the_grpo_stage() -> None:
    from harness.validate.verl_overrides import check_verl_deep

    rendered = _plan().stage("grpo").rendered
    assert check_verl_deep(list(rendered.argv), rendered.keys) == []


@pytest.mark.slow
def test_plan_only_validates_with_this_python() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gpu_smoke.py", "--plan-only", "--run-name", "plan-only-test"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "profile: gpu_smoke" in proc.stdout and "# pre-flight:" in proc.stdout


def test_plan_only_finds_a_python_with_the_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make gpu-smoke ARGS=--plan-only` runs the system python3, which has no omegaconf: it planned
    with it and stopped on a ModuleNotFoundError traceback."""
    script = _script()
    assert script.plan_python() == sys.executable  # this one has the harness's dependencies
    monkeypatch.setattr(script.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(script, "REPO", tmp_path)
    assert script.plan_python() is None
    gpu = tmp_path / ".venv-gpu" / "bin" / "python"
    gpu.parent.mkdir(parents=True)
    gpu.touch()
    assert script.plan_python() == str(gpu)
    cpu = tmp_path / ".venv" / "bin" / "python"
    cpu.parent.mkdir(parents=True)
    cpu.touch()
    assert script.plan_python() == str(cpu)


def test_plan_only_without_any_such_python_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As on a fresh GPU machine: the system python3, no .venv, no .venv-gpu."""
    script = _script()
    monkeypatch.setattr(script.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(script, "REPO", tmp_path)
    assert script.main(["--plan-only"]) == 2
    err = capsys.readouterr().err
    assert "run `make install`" in err and str(tmp_path / ".venv") in err


# --- the script's checks on a run directory --------------------------------------------------------


def _fake_run(root: Path, *, forced: bool = True, steps: int = 2) -> tuple[Path, dict[str, str]]:
    run = root / "run"
    stages = []
    for name, kind in [
        ("sft", "swift_sft"),
        ("grpo", "verl_grpo"),
        ("merge_grpo", "verl_merge"),
        ("eval", "eval"),
    ]:
        stages.append(
            {"name": name, "kind": kind, "stage_dir": str(run / name), "status": "completed", "seconds": 3.0}
        )
    (run / "sft" / "final").mkdir(parents=True)
    (run / "sft" / "final" / "args.json").write_text(json.dumps({"attn_impl": "sdpa", "deepspeed": {}}))
    (run / "grpo").mkdir()
    lines = [json.dumps({"step": s, "data": {"critic/score/mean": 0.1 * s}}) for s in range(1, steps + 1)]
    (run / "grpo" / "verl_metrics.jsonl").write_text("\n".join(lines) + "\n")
    (run / "merge_grpo" / "hf").mkdir(parents=True)
    (run / "merge_grpo" / "hf" / "config.json").write_text("{}")
    (run / "merge_grpo" / "hf" / "model.safetensors").write_text("x")
    (run / "eval").mkdir()
    labels = {"a": "fake", "b": "real"}
    rows = [
        {"id": i, "response": f"{'This image is' if forced else 'It is'} {label}", "p_fake": 0.5}
        for i, label in labels.items()
    ]
    (run / "eval" / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (run / "report.md").write_text("# report\n")
    (run / "manifest.json").write_text(json.dumps({"stages": stages}))
    return run, labels


def test_checks_pass_on_a_complete_run(tmp_path: Path) -> None:
    script = _script()
    run, labels = _fake_run(tmp_path)
    checks = script.stage_checks(run) + script.output_checks(run, labels)
    assert all(c.passed for c in checks), [c.line() for c in checks]
    assert any(c.name == "eval output" and "2 forced by the logits processor" in c.detail for c in checks)
    assert checks[0].line().startswith("PASS  stage sft")


@pytest.mark.parametrize("broken", ["unforced", "one_step", "wrong_expert"])
def test_checks_fail_on_what_a_gpu_run_could_get_wrong(tmp_path: Path, broken: str) -> None:
    script = _script()
    run, labels = _fake_run(tmp_path, forced=broken != "unforced", steps=1 if broken == "one_step" else 2)
    if broken == "wrong_expert":
        labels = {"a": "real", "b": "fake"}
    failed = [c.name for c in script.output_checks(run, labels) if not c.passed]
    assert failed == ["grpo output" if broken == "one_step" else "eval output"]


def test_the_expert_file_follows_the_eval_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "eval.jsonl"
    manifest.write_text('{"id": "x", "label": "fake"}\n{"id": "y", "label": "real"}\n')
    labels = _script().write_expert_probs(manifest, tmp_path / "expert.jsonl")
    assert labels == {"x": "fake", "y": "real"}
    from harness.evaluation.collaborative_decoding import load_expert_probabilities

    assert load_expert_probabilities(tmp_path / "expert.jsonl") == {"x": 0.95, "y": pytest.approx(0.05)}
