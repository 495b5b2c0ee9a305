"""The expert stages as the harness renders them: the recipe's values, errors naming config keys
before anything runs, the learning-rate schedule, and the eval CLI's expert flags. Fast: no torch."""

from __future__ import annotations

import json

import pytest

from common.errors import ConfigError
from expert.config import ExpertTrainConfig, parse_infer_config, parse_train_config
from harness.config import compose
from harness.evaluation.__main__ import with_expert_arguments
from harness.plan import build_plan


def _plan(*overrides: str):
    return build_plan(compose(["paper=aigi_holmes", *overrides]), run_name="render-only")


def _config_json(argv: tuple[str, ...]) -> dict:
    return json.loads(argv[argv.index("--config-json") + 1])


def test_full_recipe_renders_the_authors_values_on_every_gpu() -> None:
    plan = _plan("profile=full")
    train = plan.stage("expert_train").rendered
    assert train.argv[:4] == ("python3", "-m", "expert", "train") and train.mode == "torchrun"
    config = _config_json(train.argv)
    assert config["batch_size"] == 16 and config["lr"] == 1e-4 and config["beta1"] == 0.9
    assert (config["lora_rank"], config["lora_alpha"]) == (4, 8)
    assert config["lora_targets"] == ["q_proj", "k_proj", "v_proj", "out_proj"]
    assert (config["lr_decay"], config["lr_decay_every_epochs"], config["min_lr"]) == (0.9, 20, 1e-6)
    assert (config["load_size"], config["crop_size"], config["normalize"], config["augment"]) == (
        384,
        336,
        "imagenet",
        "authors",
    )
    assert (config["seed"], config["epochs"]) == (100, 1000)
    assert parse_train_config(config) == ExpertTrainConfig(
        **{**config, "lora_targets": tuple(config["lora_targets"])}
    )
    argv = list(train.argv)
    assert argv[argv.index("--model") + 1].endswith("models/clip-vit-large-patch14-336")
    assert argv[argv.index("--val-manifest") + 1].endswith("prepare_testset/eval.jsonl")
    # SFT starts from the swapped LLaVA, without the stock-tower warning; the eval reads the expert.
    sft = list(plan.stage("sft").rendered.argv)
    assert sft[sft.index("--model") + 1] == str(plan.run_dir / "expert_swap" / "llava")
    assert not any("no visual expert" in w for s in plan.stages for w in s.warnings)
    swap = list(plan.stage("expert_swap").rendered.argv)
    assert swap[swap.index("--expert") + 1] == str(plan.run_dir / "expert_train" / "final")
    infer = list(plan.stage("expert_infer").rendered.argv)
    assert infer[infer.index("--expert") + 1] == str(plan.run_dir / "expert_swap" / "expert")
    evaluation = list(plan.stage("eval").rendered.argv)
    assert evaluation[evaluation.index("--expert-probs") + 1] == str(
        plan.run_dir / "expert_infer" / "expert_probs.jsonl"
    )
    mllm = list(plan.stage("eval_mllm").rendered.argv)
    assert "--expert-probs" not in mllm and mllm[mllm.index("--expert-weight") + 1] == "0"
    # myprocessor1.py's ForceLogitsProcessor: every combined answer reads "This image is real|fake".
    collab = _config_json(tuple(evaluation))["collaborative_decoding"]
    assert collab["force_prefix"] is True and collab["target_text"] == "This image is"


def test_stock_vision_tower_variant_warns_and_decodes_without_the_expert() -> None:
    plan = _plan("profile=full", "variant=stock_vision_tower")
    names = [s.name for s in plan.stages]
    assert not {"expert_train", "expert_swap", "expert_infer", "eval_mllm"} & set(names)
    assert any("no visual expert" in w for w in plan.stage("sft").warnings)
    evaluation = list(plan.stage("eval").rendered.argv)
    assert evaluation[evaluation.index("--expert-weight") + 1] == "0" and "--expert-probs" not in evaluation
    # A LLaVA-with-expert folder of one's own: no warning, SFT starts there.
    own = _plan("profile=full", "variant=stock_vision_tower", "expert_model_path=/data/llava-ours")
    sft = list(own.stage("sft").rendered.argv)
    assert sft[sft.index("--model") + 1] == "/data/llava-ours" and not own.stage("sft").warnings


@pytest.mark.parametrize(
    ("override", "key", "message"),
    [
        ("+stages.expert_train.lr_decya=0.5", "stages.expert_train.lr_decya", "did you mean: lr_decay"),
        ("stages.expert_train.normalize=clip2", "stages.expert_train.normalize", "imagenet, clip"),
        ("stages.expert_train.crop_size=400", "stages.expert_train.crop_size", "larger than load_size"),
        ("stages.expert_train.global_batch_size=12", "stages.expert_train.global_batch_size", "do not split"),
        ("stages.expert_infer.threshold=1.5", "stages.expert_infer.threshold", "(0, 1)"),
        ("+stages.expert_swap.inputs.clip=/x", "stages.expert_swap.inputs.clip", "unknown input"),
    ],
)
def test_bad_settings_name_the_key_before_anything_runs(override: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _plan("profile=full", override)
    text = str(caught.value)
    assert key in text and message in text, text


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_train_config({"lr": -1, "augment": "heavy", "num_workers": -2}, where="stages.x")
    keys = {p.key for p in caught.value.problems}
    assert keys == {"stages.x.lr", "stages.x.augment", "stages.x.num_workers"}
    with pytest.raises(ConfigError, match=r"metrics\[0\]"):
        parse_infer_config({"metrics": ["iou"]})


def test_learning_rate_schedule_is_the_authors() -> None:
    from expert.train import lr_factor

    config = ExpertTrainConfig()
    # train_with_config.py: after epoch e (from 0) with e % 20 == 0 and e != 0, lr *= 0.9.
    assert [lr_factor(done, config) for done in (0, 1, 20)] == [1.0, 1.0, 1.0]
    assert lr_factor(21, config) == pytest.approx(0.9) and lr_factor(40, config) == pytest.approx(0.9)
    assert lr_factor(41, config) == pytest.approx(0.81)
    # never below min_lr (1e-6 of 1e-4): 0.9**44 < 0.01 from epoch 881 on
    assert lr_factor(861, config) == pytest.approx(0.9**43)
    assert lr_factor(881, config) == pytest.approx(0.01) and lr_factor(1000, config) == pytest.approx(0.01)


def test_eval_cli_expert_flags() -> None:
    collab = {"weight": 1.0, "target_text": "This image is"}
    options, problem = with_expert_arguments({"collaborative_decoding": collab}, "/p.jsonl", None)
    assert problem is None and options["collaborative_decoding"]["expert_probs"] == "/p.jsonl"
    options, problem = with_expert_arguments({"collaborative_decoding": collab}, "/p.jsonl", 0.0)
    assert problem is None and options["collaborative_decoding"] is None  # weight 0: the MLLM alone
    options, problem = with_expert_arguments({"collaborative_decoding": {**collab, "weight": 0}}, None, None)
    assert options["collaborative_decoding"] is None
    _, problem = with_expert_arguments({"collaborative_decoding": None}, "/p.jsonl", None)
    assert problem is not None and "collaborative_decoding" in problem


def test_the_reports_curve_reader_reads_the_expert_logs(tmp_path) -> None:
    from harness.report.run_dir import StageInfo, read_stage_curves

    (tmp_path / "log.jsonl").write_text(
        '{"step": 1, "epoch": 0, "loss": 0.7, "lr": 0.0001}\n{"step": 2, "epoch": 0, "loss": 0.6, "lr": 0.0001}\n'
        '{"step": 2, "epoch": 0, "loss": 0.5, "lr": 0.0001}\n{"step": 3, "ep'  # resumed, then torn by a kill
    )
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps(
            {"epoch": 0, "step": 2, "val": {"accuracy": 0.75, "ap": 0.9, "accuracy/generator/FLUX": 1.0}}
        )
    )
    stage = StageInfo("expert_train", "expert_train", "completed", tmp_path)
    assert stage.stage_kind is not None and stage.stage_kind.trains  # the registered kind
    curves = read_stage_curves(stage)
    assert curves["loss"] == {1: 0.7, 2: 0.5} and curves["learning_rate"][2] == 1e-4
    assert curves["val/accuracy"] == {2: 0.75} and curves["val/ap"] == {2: 0.9}
    assert not any("FLUX" in key for key in curves)


def test_the_expert_kinds_are_registered_stage_kinds(tmp_path) -> None:
    from harness.kinds import get_kind

    plan = _plan()
    swap = plan.stage("expert_swap").rendered.argv
    assert swap[swap.index("--expert") + 1].endswith("/expert_train/final")  # expert_train's primary output
    infer = plan.stage("expert_infer").rendered.argv
    assert infer[infer.index("--expert") + 1].endswith("/expert_swap/expert")
    sft = plan.stage("sft").rendered.argv
    assert sft[sft.index("--model") + 1].endswith("/expert_swap/llava")  # expert_swap's primary output
    assert get_kind("expert_infer").evaluates and not get_kind("expert_swap").trains

    # an interrupted attempt keeps its checkpoints (the program resumes from them with the same
    # argv, also when Slurm requeues it); a fresh attempt starts from an empty folder
    rule = get_kind("expert_train").rerun
    argv = ("python3", "-m", "expert", "train", "--output-dir", str(tmp_path))
    (tmp_path / "checkpoints" / "step-2").mkdir(parents=True)
    assert rule.prepare(argv, tmp_path, resume=True, requeueable=True, verbatim=False) == argv
    assert (tmp_path / "checkpoints" / "step-2").is_dir()
    assert rule.prepare(argv, tmp_path, resume=False, requeueable=True, verbatim=False) == argv
    assert not tmp_path.exists()
