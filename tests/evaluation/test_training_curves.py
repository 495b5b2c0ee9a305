"""Training curves: one row of panels per training stage, each on its own step axis, drawn from the
trainers' real log formats (ms-swift 4.6 logging.jsonl for SFT and GRPO, the project reward's parts
file, verl 0.9.1's FileLogger jsonl); a panel only where its keys were logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from harness.report.builder import build_report
from harness.report.config import DEFAULT_PANELS, PanelSpec, parse_report_config
from harness.report.plots import DrawnPanel, plot_training_curves
from harness.report.training_logs import (
    Curves,
    read_reward_parts,
    read_swift_log,
    read_verl_file_log,
)
from rewards.fakexplain import score_keys
from tests.evaluation.run_factory import DATA, make_run

# A FakeXplain ms-swift GRPO stage with the linear grounding schedule (w_iou 0.5 -> 1.5 over 3 steps):
# what rewards/swift_adapter.py writes to AIGI_REWARD_PARTS, one line per reward call.
LINEAR_PARTS = [
    {"score": 0.8, "format": -1.0, "label": 1.0, "iou": 0.1, "grounding": 0.2, "acc": 0.5, "w_iou": 0.5},
    {"score": 1.6, "format": 1.0, "label": 1.0, "iou": 0.3, "grounding": 0.4, "acc": 0.75, "w_iou": 1.0},
    {"score": 2.3, "format": 1.0, "label": 1.0, "iou": 0.5, "grounding": 0.6, "acc": 1.0, "w_iou": 1.5},
]

# verl 0.9.1 FileLogger (verl/utils/tracking.py): {"step": n, "data": {...}} with the keys its
# trainer logs (verl/trainer/ppo/metric_utils.py, the actor's update metrics); no accuracy during
# training (verl logs the reward's extra keys only at validation, as val-core/<source>/acc/...).
VERL_STEP = {
    "actor/entropy": 0.61,
    "actor/pg_loss": -0.012,
    "actor/kl_loss": 0.0009,
    "actor/pg_clipfrac": 0.0,
    "actor/ppo_kl": 0.0,
    "actor/grad_norm": 0.21,
    "critic/score/mean": 0.4,
    "critic/score/max": 3.0,
    "critic/score/min": -2.0,
    "critic/rewards/mean": 0.4,
    "critic/advantages/mean": 0.0,
    "response_length/mean": 212.0,
    "training/global_step": 1,
    "training/epoch": 0,
    "timing_s/gen": 11.2,
    "perf/throughput": 812.5,
}


def write_parts(path: Path, parts: list[dict[str, float]], n: int = 8) -> None:
    path.write_text(
        "".join(
            json.dumps({"pid": 4242, "step": step, "n": n, "mean": mean}) + "\n"
            for step, mean in enumerate(parts, start=1)
        )
    )


def write_verl_file_log(path: Path, steps: int = 4, validation: bool = False) -> None:
    lines = []
    for step in range(1, steps + 1):
        data = {
            k: v + 0.1 * step if k.startswith(("critic/", "actor/pg")) else v for k, v in VERL_STEP.items()
        }
        data["training/global_step"] = step
        if validation and step % 2 == 0:
            data["val-core/fakexplain/acc/mean@1"] = 0.5 + 0.1 * step
            data["val-aux/fakexplain/reward/mean@1"] = 1.0
        lines.append(json.dumps({"step": step, "data": data}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def sft_curves() -> Curves:
    return read_swift_log(DATA / "swift_sft_logging.jsonl")


def grpo_curves(tmp_path: Path, parts: list[dict[str, float]] = LINEAR_PARTS) -> Curves:
    curves = read_swift_log(DATA / "swift_grpo_aigi_logging.jsonl")
    write_parts(tmp_path / "reward_parts.jsonl", parts)
    return read_reward_parts(tmp_path / "reward_parts.jsonl", curves)


def by_panel(drawn: list[DrawnPanel]) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(p.stage, p.title): p.keys for p in drawn}


def test_the_parts_sample_has_the_keys_the_fakexplain_reward_returns() -> None:
    """The sample lines above are what the adapter averages: compute_score's own keys."""
    assert all(set(parts) == set(score_keys) for parts in LINEAR_PARTS)


def test_sft_and_grpo_each_get_their_own_row_and_panels(tmp_path: Path) -> None:
    path = tmp_path / "curves.png"
    drawn = plot_training_curves(
        [("sft", sft_curves()), ("grpo", grpo_curves(tmp_path))], DEFAULT_PANELS, path, "t"
    )
    assert by_panel(drawn) == {
        ("sft", "Loss"): ("loss",),
        ("sft", "Accuracy"): ("token_acc",),
        ("grpo", "Loss"): ("loss",),
        ("grpo", "Reward"): ("reward", "rewards/AigiReward/mean"),
        ("grpo", "Reward parts"): (
            "reward_parts/format",
            "reward_parts/grounding",
            "reward_parts/iou",
            "reward_parts/label",
        ),
        ("grpo", "Grounding weight"): ("reward_parts/w_iou",),
        ("grpo", "Accuracy"): ("reward_parts/acc",),
    }
    steps = {(p.stage, p.title): p.steps for p in drawn}
    # each stage on its own step axis: GRPO starts at its own step 1, not after SFT's 4 steps
    assert steps[("sft", "Loss")] == (1.0, 4.0) and steps[("grpo", "Loss")] == (1.0, 3.0)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] / 2


def test_sft_loss_and_grpo_loss_never_share_an_axis(tmp_path: Path) -> None:
    """Every panel holds one stage's keys; the two losses are two panels in two rows."""
    stages = [("sft", sft_curves()), ("grpo", grpo_curves(tmp_path)), ("sft2", sft_curves())]
    drawn = plot_training_curves(stages, DEFAULT_PANELS, tmp_path / "c.png")
    losses = [p for p in drawn if "loss" in p.keys]
    assert [p.stage for p in losses] == ["sft", "grpo", "sft2"]
    assert len({(p.stage, p.title) for p in drawn}) == len(drawn)
    assert [p.steps for p in losses] == [(1.0, 4.0), (1.0, 3.0), (1.0, 4.0)], "each on its own steps"


def test_no_accuracy_panel_without_an_accuracy_key(tmp_path: Path) -> None:
    sft = {k: v for k, v in sft_curves().items() if k != "token_acc"}
    parts = [{k: v for k, v in p.items() if k != "acc"} for p in LINEAR_PARTS]
    drawn = plot_training_curves(
        [("sft", sft), ("grpo", grpo_curves(tmp_path, parts))], DEFAULT_PANELS, tmp_path / "c.png"
    )
    assert "Accuracy" not in {p.title for p in drawn}
    assert {p.title for p in drawn if p.stage == "sft"} == {"Loss"}


def test_a_constant_grounding_weight_draws_no_weight_panel(tmp_path: Path) -> None:
    """The constant schedule logs w_iou too, but only a linear schedule moves it."""
    constant = [p | {"w_iou": 1.0} for p in LINEAR_PARTS]
    drawn = plot_training_curves(
        [("grpo", grpo_curves(tmp_path, constant))], DEFAULT_PANELS, tmp_path / "c.png"
    )
    titles = {p.title for p in drawn}
    assert "Grounding weight" not in titles and "Reward parts" in titles
    assert all("reward_parts/w_iou" not in p.keys for p in drawn)


def test_verl_grpo_file_log_draws_loss_and_reward_and_validation_accuracy(tmp_path: Path) -> None:
    write_verl_file_log(tmp_path / "exp.jsonl")
    drawn = plot_training_curves(
        [("grpo", read_verl_file_log(tmp_path / "exp.jsonl"))], DEFAULT_PANELS, tmp_path / "c.png"
    )
    assert by_panel(drawn) == {
        ("grpo", "Loss"): ("actor/pg_loss", "actor/kl_loss"),
        ("grpo", "Reward"): ("critic/score/mean", "critic/rewards/mean"),
    }
    write_verl_file_log(tmp_path / "val.jsonl", validation=True)
    drawn = plot_training_curves(
        [("grpo", read_verl_file_log(tmp_path / "val.jsonl"))], DEFAULT_PANELS, tmp_path / "c.png"
    )
    accuracy = [p for p in drawn if p.title == "Accuracy"]
    assert [p.keys for p in accuracy] == [("val-core/fakexplain/acc/mean@1",)]
    assert accuracy[0].steps == (2.0, 4.0)


def test_stages_without_data_draw_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.png"
    assert plot_training_curves([("sft", {}), ("grpo", {"loss": {}})], DEFAULT_PANELS, path) == []
    assert not path.exists()
    only = [PanelSpec("Entropy", keys=("actor/entropy",))]
    assert plot_training_curves([("grpo", {"loss": {1.0: 0.1}})], only, path) == []


def test_a_results_config_chooses_its_own_panels() -> None:
    config = parse_report_config(
        {"curves": [{"title": "Weight", "keys": ["reward_parts/w_iou"], "changing": True}]}
    )
    assert config.curves == (PanelSpec("Weight", keys=("reward_parts/w_iou",), changing=True),)


def test_the_report_references_the_figure_and_names_each_stage_row(tmp_path: Path) -> None:
    stages = [
        ("sft", "swift_sft", "completed"),
        ("grpo_cpu", "swift_rlhf", "completed"),
        ("grpo", "verl_grpo", "completed"),
    ]
    run = make_run(
        tmp_path,
        "r",
        "fakexplain",
        stages,
        swift_logs={"sft": "swift_sft_logging.jsonl", "grpo_cpu": "swift_grpo_aigi_logging.jsonl"},
    )
    write_parts(run / "grpo_cpu" / "reward_parts.jsonl", LINEAR_PARTS)
    write_verl_file_log(run / "grpo" / "verl_logs" / "exp.jsonl")
    build_report([run], None, None, log=lambda m: None)
    markdown = (run / "report.md").read_text()
    assert (
        "one row per stage on its own step axis (sft: loss, accuracy; grpo_cpu: loss, reward, "
        "reward parts, grounding weight, accuracy; grpo: loss, reward)](training_curves.png)" in markdown
    )
    assert "| step | reward | acc | format | grounding | iou | label | w_iou |" in markdown
    assert json.loads((run / "report.json").read_text())["figures"] == ["training_curves.png"]


@pytest.mark.parametrize("panel", DEFAULT_PANELS, ids=lambda p: p.title)
def test_every_default_panel_draws_from_some_real_log(panel: PanelSpec, tmp_path: Path) -> None:
    """No default panel names keys that no trainer writes."""
    write_verl_file_log(tmp_path / "val.jsonl", validation=True)
    logs = [sft_curves(), grpo_curves(tmp_path), read_verl_file_log(tmp_path / "val.jsonl")]
    assert any(plot_training_curves([("s", curves)], [panel], tmp_path / "p.png") for curves in logs)
