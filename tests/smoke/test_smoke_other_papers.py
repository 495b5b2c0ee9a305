"""The smoke profile of Fake-HR1, AIGI-Holmes and FakeScope on a CPU: `python -m harness paper=<p>
profile=smoke` trains a tiny model for real (an SFT sized to learn the paper's answer format from
the synthetic images, then a few GRPO or DPO steps), evaluates it on held-out images and writes the
report; verl's stages are rendered, validated and reported as skipped.

The slow tests run the whole pipeline (about 9, 5 and 3 minutes on one of 2 busy cores) into a
temporary `paths.runs` and check that it learned (MIN_PARSABLE, MIN_ACCURACY) and that an untrained
model fails the same check; the fast ones check what the smoke overlays render, and that they leave
the full profile alone.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.config import CONF_DIR, REPO_ROOT, compose
from harness.plan import build_plan
from harness.validate import validate_plan

HARNESS = [sys.executable, "-m", "harness"]
VERL_SKIP = "verl's GRPO needs vLLM or SGLang rollout servers on GPUs (FACTS.md); rendered and validated only"

# The smoke pipeline of each paper, and which of its stages cannot run on a CPU (with the reason
# the paper config gives).
PIPELINES = {
    "fake_hr1": ["tiny_model", "synth_data", "synth_testset", "prepare_genimage", "prepare_fakeclue", "sft", "grpo",
                 "merge_grpo", "grpo_cpu", "prepare_testset", "eval", "report"],
    "aigi_holmes": ["tiny_model", "tiny_clip", "synth_data", "synth_testset", "prepare_testset", "prepare_expert_train",
                    "expert_train", "expert_swap", "expert_infer", "prepare_sft", "prepare_dpo", "prepare_val", "sft",
                    "merge_sft", "dpo", "merge_dpo", "eval_mllm", "eval", "report"],
    "fakescope": ["tiny_model", "synth_data", "synth_testset", "prepare_data", "sft", "prepare_testset", "eval",
                  "report"],
}  # fmt: skip
SKIPPED = {
    "fake_hr1": {"grpo": VERL_SKIP, "merge_grpo": "follows the skipped verl GRPO stage"},
    "aigi_holmes": {},
    "fakescope": {},
}
TRAINING_KINDS = ("swift_sft", "swift_rlhf")


def _smoke_plan(paper: str):
    return build_plan(compose([f"paper={paper}", "profile=smoke"]), run_name="render-only")


def _run(paper: str, runs: Path, run_name: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HARNESS, f"paper={paper}", "profile=smoke", f"run_name={run_name}", f"paths.runs={runs}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)  # fmt: skip


def _table_titles(paper: str) -> list[str]:
    results = yaml.safe_load((CONF_DIR / "results" / f"{paper}.yaml").read_text())
    return [table["title"] for table in results["tables"]]


def _losses(stage_dir: Path) -> list[float]:
    entries = [
        json.loads(line) for line in (stage_dir / "output" / "logging.jsonl").read_text().splitlines() if line
    ]
    return [float(e["loss"]) for e in entries if "loss" in e]


# --- fast: what the overlays render ---------------------------------------------------------------


@pytest.mark.parametrize("paper", sorted(PIPELINES))
def test_smoke_overlay_renders_and_validates(paper: str) -> None:
    plan = _smoke_plan(paper)
    assert plan.profile == "smoke"
    assert [s.name for s in plan.stages] == PIPELINES[paper]
    assert {s.name: s.skip_reason for s in plan.stages if s.skip_reason} == SKIPPED[paper]
    assert validate_plan(plan, check_paths=False) == []
    for planned in plan.stages:
        argv, env = list(planned.rendered.argv), planned.rendered.env
        if argv[:1] == ["swift"]:
            # CPU settings: no GPU-only features, no hub look-ups, a checkpoint to hand on.
            assert env.get("HF_HUB_OFFLINE") == "1", planned.name
            assert str(REPO_ROOT / "data_prep" / "cpu_compat.py") in argv, planned.name
            for flag in ("--deepspeed", "--attn_impl"):
                assert flag not in argv, (planned.name, flag)
            if planned.kind in TRAINING_KINDS:
                for flag, value in (("--fp16", "false"), ("--bf16", "false"), ("--torch_dtype", "float32"),
                                    ("--check_model", "false"), ("--dataloader_num_workers", "0")):  # fmt: skip
                    assert argv[argv.index(flag) + 1] == value, (planned.name, flag)
                steps = int(argv[argv.index("--max_steps") + 1])
                assert 0 < steps <= int(argv[argv.index("--save_steps") + 1]) * 2, planned.name
        # Every input is made by an earlier stage of the run: nothing is downloaded.
        for key, value in (planned.spec.get("inputs") or {}).items():
            values = value if isinstance(value, list) else [value]
            for item in values:
                text = item["fallback"] if isinstance(item, dict) else item
                assert str(text).startswith("stage:"), (planned.name, key, text)


@pytest.mark.parametrize("paper", sorted(PIPELINES))
def test_smoke_overlay_leaves_the_full_profile_alone(paper: str) -> None:
    plan = build_plan(compose([f"paper={paper}", "profile=full"]), run_name="render-only")
    names = [s.name for s in plan.stages]
    assert "download_model" in names and not {"tiny_model", "synth_data", "synth_testset", "grpo_cpu"} & set(
        names
    )
    for planned in plan.stages:
        line = " ".join(planned.rendered.argv)
        assert "cpu_compat" not in line and "HF_HUB_OFFLINE" not in planned.rendered.env, planned.name
        assert "--torch_dtype float32" not in line and "--fp16 false" not in line, planned.name


def test_fakescope_smoke_trains_a_llava_1_5_like_the_recipe() -> None:
    plan = _smoke_plan("fakescope")
    sft = list(plan.stage("sft").rendered.argv)
    assert (
        sft[sft.index("--model_type") + 1] == "llava1_5_hf"
        and sft[sft.index("--template") + 1] == "llava1_5_hf"
    )
    tiny = list(plan.stage("tiny_model").rendered.argv)
    assert tiny[tiny.index("--arch") + 1] == "llava1_5"


# --- slow: the real runs ----------------------------------------------------------------------------


def _check_run(paper: str, runs: Path, proc: subprocess.CompletedProcess) -> tuple[Path, dict[str, dict]]:
    """What every paper's smoke run must show; returns (run_dir, stages by name)."""
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    run_dir = runs / paper / f"smoke-{paper}"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["paper"] == paper and manifest["profile"] == "smoke"
    assert [s["name"] for s in manifest["stages"]] == PIPELINES[paper]
    stages = {s["name"]: s for s in manifest["stages"]}
    for name, stage in stages.items():
        if name in SKIPPED[paper]:
            # verl cannot run on a CPU: rendered, validated, and its skip is reported, not hidden.
            assert stage["status"] == "skipped", (name, stage)
            assert stage["skip_reason"] == SKIPPED[paper][name]
            assert f"{name}: skipped in profile smoke: {SKIPPED[paper][name]}" in proc.stdout
        else:
            assert stage["status"] == "completed", (name, stage)
            assert stage["exit_code"] == 0 and stage["started"] and stage["ended"], name
            assert Path(stage["log"]).is_file(), name
    # Real training: every training stage saved a checkpoint, `final` links it, the loss is a number.
    trained = [name for name, stage in stages.items() if stage["kind"] in TRAINING_KINDS]
    assert trained
    for name in trained:
        final = run_dir / name / "final"
        assert final.is_symlink(), name
        target = final.resolve()
        assert (
            target.is_dir()
            and target.name.startswith("checkpoint-")
            and target.parent == run_dir / name / "output"
        )
        assert (target / "adapter_model.safetensors").is_file() or (target / "model.safetensors").is_file(), (
            name
        )
        losses = _losses(run_dir / name)
        assert losses and all(math.isfinite(x) for x in losses), (name, losses)
    # The converters rejected nothing of the synthetic data.
    for name in stages:
        if name.startswith("prepare_"):
            stats = json.loads((run_dir / name / "stats.json").read_text())
            assert stats["rejected_total"] == 0 and stats["converted"] == stats["read"] > 0, (name, stats)
    # Evaluation of every test image, and the report with the paper's tables.
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_predictions"] == metrics["n_images"] > 0
    report = (run_dir / "report.md").read_text()
    for title in _table_titles(paper):
        assert f"### {title}\n" in report, title
    return run_dir, stages


def _argv_value(stage: dict, flag: str) -> str:
    argv = stage["argv"]
    return argv[argv.index(flag) + 1]


# What a smoke run that learned its answer format shows on its held-out test images (issue 17):
# parsable answers, and accuracy well above chance (0.5): on 40 images, 30 right by chance has a
# probability of about 0.001.
MIN_TEST_IMAGES = 40
MIN_PARSABLE = 0.90
MIN_ACCURACY = 0.75
# Token soft-scoring (003 eq. 2) of a model that states the right verdict ranks the fakes first.
MIN_AUC = 0.75


def _figures(eval_dir: Path) -> dict[str, float]:
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    labels = [json.loads(line)["label"] for line in (eval_dir / "predictions.jsonl").read_text().splitlines()]
    return {
        "n": metrics["n_predictions"],
        "fakes": labels.count("fake"),
        "parsable": 1.0 - metrics["values"]["unparsable_rate"],
        "accuracy": metrics["values"]["accuracy"],
        "auc": metrics["values"].get("auc"),
        "scored": metrics.get("counts", {}).get("n/p_fake", 0),
    }


def _learned(figures: dict[str, float]) -> bool:
    return figures["parsable"] >= MIN_PARSABLE and figures["accuracy"] >= MIN_ACCURACY


def _ranks(figures: dict[str, float]) -> bool:
    """Every image got a probability of fake, and they rank the fakes first."""
    return figures["scored"] == figures["n"] and (figures["auc"] or 0.0) >= MIN_AUC


def _evaluate_other_model(eval_stage: dict, model: Path, out: Path) -> dict[str, float]:
    """The eval stage's own command from the manifest, on ``model``, writing to ``out``."""
    argv = list(eval_stage["argv"])
    assert argv[:3] == ["python3", "-m", "harness.evaluation"]
    argv[argv.index("--model") + 1] = str(model)
    argv[argv.index("--output-dir") + 1] = str(out)
    proc = subprocess.run(
        [sys.executable, *argv[1:]], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _figures(out)


def _image_paths(jsonl: Path) -> set[str]:
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return {
        str(Path(image).resolve())
        for row in rows
        for image in (row.get("images") or [row.get("image")])
        if image
    }


def _assert_it_learned(
    run_dir: Path,
    stages: dict[str, dict],
    train_files: list[str],
    eval_stages: list[str],
    tmp_path: Path,
    soft_scored: bool = False,
) -> None:
    """Each of ``eval_stages`` learned on held-out test images, half fake (none is in the SFT rows of
    ``train_files``); the untrained tiny model, through the first eval stage's own command, did not:
    the thresholds catch an evaluation that reads the wrong model. With ``soft_scored``, the same
    holds for the ranking of token soft-scoring (AP / AUC)."""
    train_images = set().union(*(_image_paths(run_dir / name) for name in train_files))
    assert train_images and not train_images & _image_paths(run_dir / "prepare_testset" / "eval.jsonl")
    for stage in eval_stages:
        figures = _figures(run_dir / stage)
        assert figures["n"] >= MIN_TEST_IMAGES and figures["fakes"] == figures["n"] // 2, (stage, figures)
        assert _learned(figures), (stage, figures)
        assert not soft_scored or _ranks(figures), (stage, figures)
    untrained = _evaluate_other_model(stages[eval_stages[0]], run_dir / "tiny_model", tmp_path / "untrained")
    assert untrained["n"] == figures["n"] and not _learned(untrained), untrained
    assert not (soft_scored and _ranks(untrained)), untrained


@pytest.mark.slow
def test_fake_hr1_smoke_run(tmp_path: Path) -> None:
    proc = _run("fake_hr1", tmp_path, "smoke-fake_hr1")
    run_dir, stages = _check_run("fake_hr1", tmp_path, proc)
    # Full SFT as the recipe: the checkpoint is a complete model; CPU GRPO starts from it.
    assert _argv_value(stages["sft"], "--tuner_type") == "full"
    assert (run_dir / "sft" / "final" / "model.safetensors").is_file()
    assert _argv_value(stages["grpo_cpu"], "--model") == str(run_dir / "sft" / "final")
    # ms-swift's GRPO scored the rollouts with the project's Fake-HR1 reward (copied into the run).
    assert _argv_value(stages["grpo_cpu"], "--rlhf_type") == "grpo"
    assert json.loads(stages["grpo_cpu"]["env"]["AIGI_REWARD"])["path"] == str(
        run_dir / "reward" / "fake_hr1.py"
    )
    grpo_log = (run_dir / "grpo_cpu" / "output" / "logging.jsonl").read_text().splitlines()
    grpo_log = [json.loads(line) for line in grpo_log if line.strip()]
    assert any("rewards/AigiReward/mean" in entry for entry in grpo_log)
    # The evaluation read the CPU GRPO model, with the seed's system prompt and response prefix.
    assert _argv_value(stages["eval"], "--model") == str(run_dir / "grpo_cpu" / "final")
    prediction = json.loads((run_dir / "eval" / "predictions.jsonl").read_text().splitlines()[0])
    assert prediction["response"].startswith("<think>\n")
    # It learned (issue 17), after the SFT and the CPU GRPO steps, through the recipe's evaluation.
    # Measured 2026-12-03: parsable 1.0, accuracy 0.975; the untrained model: nothing parsable.
    train = ["prepare_genimage/sft.jsonl", "prepare_fakeclue/sft.jsonl"]
    _assert_it_learned(run_dir, stages, train, ["eval"], tmp_path)


@pytest.mark.slow
def test_aigi_holmes_smoke_run(tmp_path: Path) -> None:
    proc = _run("aigi_holmes", tmp_path, "smoke-aigi_holmes")
    run_dir, stages = _check_run("aigi_holmes", tmp_path, proc)
    # LoRA SFT, merge, LoRA DPO with ms-swift 2.6.1's objective as the recipe states it, merge.
    assert _argv_value(stages["sft"], "--tuner_type") == "lora"
    dpo = stages["dpo"]
    assert _argv_value(dpo, "--rlhf_type") == "dpo"
    assert _argv_value(dpo, "--model") == str(run_dir / "merge_sft" / "merged")
    assert (_argv_value(dpo, "--beta"), _argv_value(dpo, "--loss_type"), _argv_value(dpo, "--rpo_alpha")) == (
        "0.1",
        "sigmoid",
        "1.0",
    )
    assert (run_dir / "merge_dpo" / "merged" / "config.json").is_file()
    assert _argv_value(stages["eval"], "--model") == str(run_dir / "merge_dpo" / "merged")
    # The per-generator table holds the synthetic TestSet's generators.
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())["values"]
    assert {"accuracy/generator/FLUX", "accuracy/generator/SD35-L"} <= set(metrics)
    # The visual expert: trained (LoRA + head), merged and swapped into the LLaVA that SFT starts from.
    assert (run_dir / "expert_train" / "final" / "adapter_model.safetensors").is_file()
    steps = [json.loads(x)["step"] for x in (run_dir / "expert_train" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, stages["expert_train"]["config"]["stages.expert_train.max_steps"] + 1))
    assert _argv_value(stages["sft"], "--model") == str(run_dir / "expert_swap" / "llava")
    assert "no visual expert" not in proc.stdout + proc.stderr
    # Collaborative decoding read the expert's probabilities; eval_mllm is the MLLM alone.
    assert _argv_value(stages["eval"], "--expert-probs") == str(
        run_dir / "expert_infer" / "expert_probs.jsonl"
    )
    combined = [json.loads(x) for x in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
    alone = [json.loads(x) for x in (run_dir / "eval_mllm" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["expert_p_fake"] is not None for p in combined) and all(
        p["expert_p_fake"] is None for p in alone
    )
    # The answer starts with the forced "This image is <verdict>" (collaborative decoding's prefix).
    assert all(p["response"].startswith("This image is") for p in combined)
    # The expert learned too: its probabilities of fake on the test images are right and rank the
    # fakes first. Measured 2026-12-05 (conf/profile_paper/smoke_aigi_holmes.yaml): accuracy 0.875-0.925,
    # AUC 0.955-0.97; trained 3 steps at the recipe's lr (until then) it called every image fake: 0.5.
    from sklearn.metrics import roc_auc_score

    labels = [p["label"] == "fake" for p in combined]
    expert = [p["expert_p_fake"] for p in combined]
    accuracy = sum((e >= 0.5) == y for e, y in zip(expert, labels)) / len(labels)
    assert accuracy >= MIN_ACCURACY and roc_auc_score(labels, expert) >= MIN_AUC, (accuracy, expert)
    # The report's MLLM / Expert / Combined table has a number in every column of a smoke generator.
    report = json.loads((run_dir / "report.json").read_text())
    table = next(t for t in report["tables"] if t["id"] == "mllm_expert_combined")
    flux = next(r for r in table["rows"] if r["name"] == "FLUX")
    assert all(flux["cells"][c]["mean"] is not None for c in ("MLLM", "Expert", "Combined")), flux
    # It learned (issue 17), after SFT and DPO, the MLLM alone and with the expert, and token
    # soft-scoring read the verdict it states. Measured 2026-12-05 with the smoke SFT's lr 3e-4 and the
    # trained expert as the tower (conf/profile_paper/smoke_aigi_holmes.yaml): parsable 1.0 / 1.0,
    # accuracy 0.925 / 0.9, AUC 0.97 / 0.97 with 2 threads, 0.925 / 0.925 at AUC 0.99 / 0.97 with 1
    # (the SFT's lr 1e-3 gave accuracy 0.675-0.8 at AUC 0.87); the untrained model: nothing parsable,
    # no image scored.
    train = ["prepare_sft/sft.jsonl"]
    _assert_it_learned(run_dir, stages, train, ["eval_mllm", "eval"], tmp_path, soft_scored=True)


@pytest.mark.slow
def test_fakescope_smoke_run(tmp_path: Path) -> None:
    proc = _run("fakescope", tmp_path, "smoke-fakescope")
    run_dir, stages = _check_run("fakescope", tmp_path, proc)
    # A LLaVA-1.5 trained as ms-swift's llava1_5_hf, all parameters but the frozen vision encoder.
    config = json.loads((run_dir / "tiny_model" / "config.json").read_text())
    assert config["architectures"] == ["LlavaForConditionalGeneration"]
    assert config["text_config"]["model_type"] == "llama"
    args = json.loads((run_dir / "sft" / "final" / "args.json").read_text())
    assert args["model_type"] == "llava1_5_hf" and args["tuner_type"] == "full" and args["freeze_vit"] is True
    assert (run_dir / "sft" / "final" / "model.safetensors").is_file()
    assert "freeze_parameters: ['model.vision_tower']" in Path(stages["sft"]["log"]).read_text()
    # Token soft-scoring (003 eq. 2) gave every image a probability of fake, hence AP and AUC.
    predictions = [
        json.loads(line) for line in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    assert all(0.0 <= p["p_fake"] <= 1.0 for p in predictions)
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())["values"]
    assert metrics["ap"] is not None and metrics["auc"] is not None
    assert {"accuracy/generator/proGAN", "accuracy/generator/MJ"} <= set(metrics)
    # It learned (issue 17), through the recipe's evaluation, and the AP / AUC columns rank by the
    # verdict it states. Measured 2026-12-03: parsable 1.0, accuracy 1.0, AUC 1.0 (0.0 while the
    # tiny tokenizer merged "This image is fake." into one token); the untrained model: nothing
    # parsable, AUC 0.415.
    _assert_it_learned(run_dir, stages, ["prepare_data/sft.jsonl"], ["eval"], tmp_path, soft_scored=True)
