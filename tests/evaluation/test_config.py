"""The eval options: registry errors, schema checks, and the shipped conf/eval + conf/results files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from common.errors import ConfigError
from common.registry import Registry, UnknownNameError
from harness.evaluation.config import EvalConfig, parse_eval_config
from harness.evaluation.metrics import METRICS, compute_metrics
from harness.report.config import parse_report_config
from tests.conftest import PAPERS

REPO = Path(__file__).resolve().parents[2]


def test_unknown_name_message_lists_close_matches_and_all_names() -> None:
    with pytest.raises(UnknownNameError) as caught:
        METRICS.get("acuracy")
    message = str(caught.value)
    assert message.startswith("unknown metric 'acuracy' (did you mean: accuracy")
    assert "; available: accuracy, ap, auc, bleu2" in message


def test_registry_refuses_a_second_registration() -> None:
    registry: Registry[int] = Registry("thing")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.register("a")(2)


def test_compute_metrics_names_an_unknown_metric() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown metric 'iuo' \(did you mean: iou"):
        compute_metrics([], ["iuo"])


def test_defaults_parse_from_an_empty_config() -> None:
    assert parse_eval_config({}) == EvalConfig()


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_eval_config(
            {
                "backend": "vlm",
                "metrics": ["accuracy", "rouge"],
                "sampling": {"temprature": 0.5},
                "batch_size": "8",
                "respnse_format": "x",
            }
        )
    text = str(caught.value)
    assert "eval.sampling.temprature: unknown key (did you mean: temperature?)" in text
    assert "eval.batch_size: must be an integer, got '8'" in text
    assert "eval.respnse_format: unknown key (did you mean: response_format" in text


def test_registry_names_are_checked_after_the_schema() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_eval_config(
            {
                "backend": "vlm",
                "metrics": ["accuracy", "rouge"],
                "robustness": "jpeg50",
                "response_format": "think_tags",
            }
        )
    text = str(caught.value)
    assert "eval.backend: unknown backend 'vlm' (did you mean: vllm?)" in text
    assert "eval.metrics[1]: unknown metric 'rouge'" in text
    assert "eval.robustness: unknown robustness transform 'jpeg50' (did you mean: jpeg" in text
    assert "eval.response_format: unknown response format 'think_tags'" in text


def test_values_the_backends_refuse_late_are_refused_together() -> None:
    """vLLM refuses these only once the model is loaded (SamplingParams, the engine arguments);
    max_new_tokens 0 ran and scored every answer as empty."""
    with pytest.raises(ConfigError) as caught:
        parse_eval_config(
            {
                "max_new_tokens": 0,
                "sampling": {"top_p": 2, "repetition_penalty": 0},
                "vllm": {"tensor_parallel_size": 0, "gpu_memory_utilization": 1.5, "max_model_len": 0},
                "openai": {"timeout_s": 0, "max_retries": -1, "startup_timeout_s": -5},
                "model_frame": {"factor": 0, "min_pixels": 100, "max_pixels": 10},
            }
        )
    assert [str(p) for p in caught.value.problems] == [
        "eval.max_new_tokens: must be at least 1 (0 generates no answer), got 0",
        "eval.sampling.top_p: must be more than 0 and at most 1, got 2.0",
        "eval.sampling.repetition_penalty: must be null or more than 0 (1 = none), got 0.0",
        "eval.vllm.tensor_parallel_size: must be at least 1, got 0",
        "eval.vllm.gpu_memory_utilization: must be more than 0 and at most 1 (the share of each GPU's "
        "memory), got 1.5",
        "eval.vllm.max_model_len: must be null or at least 1, got 0",
        "eval.openai.timeout_s: must be more than 0, got 0.0",
        "eval.openai.max_retries: must be 0 or more, got -1",
        "eval.openai.startup_timeout_s: must be more than 0, got -5.0",
        "eval.model_frame.factor: must be at least 1, got 0",
        "eval.model_frame.min_pixels: must not be more than model_frame.max_pixels (100 > 10)",
    ]


@pytest.mark.parametrize("top_k", [-5, 0])
def test_an_empty_limit_and_a_top_k_below_one_are_refused(top_k: int) -> None:
    """limit 0 evaluated no image (an empty report cell); the installed transformers refuses a
    top_k below 1 at the first batch (checked here on its TopKLogitsWarper), vLLM reads 0 and -1 as off."""
    from transformers.generation.logits_process import TopKLogitsWarper

    with pytest.raises(ValueError, match="strictly positive"):
        TopKLogitsWarper(top_k)
    with pytest.raises(ConfigError) as caught:
        parse_eval_config({"limit": 0, "sampling": {"top_k": top_k}})
    assert [str(p) for p in caught.value.problems] == [
        "eval.limit: must be null (every row) or at least 1, got 0",
        f"eval.sampling.top_k: must be null (no top-k) or at least 1, got {top_k}",
    ]
    config = parse_eval_config({"limit": 1, "sampling": {"top_k": 1}})
    assert (config.limit, config.sampling.top_k) == (1, 1)


def test_values_at_their_limits_parse() -> None:
    config = parse_eval_config(
        {
            "max_new_tokens": 1,
            "sampling": {"top_p": 1, "repetition_penalty": 1.05},
            "vllm": {"tensor_parallel_size": 1, "gpu_memory_utilization": 1.0, "max_model_len": None},
            "openai": {"max_retries": 0},
            "model_frame": {"factor": 1, "min_pixels": 10, "max_pixels": 10},
        }
    )
    assert config.max_new_tokens == 1 and config.vllm.gpu_memory_utilization == 1.0


def test_nested_sections_are_typed() -> None:
    config = parse_eval_config(
        {
            "soft_scoring": {"fake_words": ["fake"], "real_words": ["real"], "position": "prefix"},
            "collaborative_decoding": {"expert_probs": "/x.jsonl", "weight": 2},
        }
    )
    assert config.soft_scoring is not None and config.soft_scoring.fake_words == ("fake",)
    assert config.collaborative_decoding is not None and config.collaborative_decoding.weight == 2.0
    with pytest.raises(ConfigError, match="must be answer or prefix"):
        parse_eval_config({"soft_scoring": {"position": "end"}})
    with pytest.raises(ConfigError, match=r"weight: must be >= 0"):
        parse_eval_config({"collaborative_decoding": {"weight": -1.0}})
    # the file may come later (--expert-probs); the evaluation itself refuses to start without it
    assert parse_eval_config({"collaborative_decoding": {"weight": 1.0}}).collaborative_decoding is not None


@pytest.mark.parametrize("paper", PAPERS)
def test_conf_eval_files_start_from_the_documented_base(paper: str) -> None:
    """Each conf/eval file is a Hydra `eval` package over _base.yaml, whose comment names every option
    (tests/harness/test_conf_defaults.py checks that the files state only what differs)."""
    text = (REPO / "conf" / "eval" / f"{paper}.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# @package eval"
    assert yaml.safe_load(text)["defaults"] == ["_base", "_self_"]
    base = (REPO / "conf" / "eval" / "_base.yaml").read_text(encoding="utf-8")
    for f in dataclasses.fields(EvalConfig):
        assert f.name in base, f"conf/eval/_base.yaml does not mention {f.name}"


@pytest.mark.parametrize("paper", PAPERS)
def test_composed_paper_config_parses(paper: str) -> None:
    """The paper's composed config (Hydra, interpolations resolved) gives a valid eval and report config."""
    from omegaconf import OmegaConf

    from harness.config import compose

    cfg = compose([f"paper={paper}", "profile=full"])
    eval_config = parse_eval_config(OmegaConf.to_container(cfg.eval, resolve=True))
    report_config = parse_report_config(OmegaConf.to_container(cfg.results, resolve=True))
    assert report_config.paper == paper
    assert report_config.tables, "every paper has at least one table"
    for table in report_config.tables:
        assert table.source.strip(), f"{paper}/{table.id} has no source"
    assert eval_config.metrics


@pytest.mark.parametrize("paper", PAPERS)
def test_conf_results_file_is_a_results_package(paper: str) -> None:
    text = (REPO / "conf" / "results" / f"{paper}.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# @package results"


def test_paper_values_are_transcribed_from_the_seeds() -> None:
    """Spot checks against the seed texts (002 Table 2 Overall, 004 main table, 003 Table V)."""
    results = {p: yaml.safe_load((REPO / "conf" / "results" / f"{p}.yaml").read_text()) for p in PAPERS}
    tables = {t["id"]: t for t in results["fakexplain"]["tables"]}
    overall = next(r for r in tables["table2_per_generator"]["rows"] if r["name"] == "Overall")
    assert overall["paper"] == {"Acc": 0.981, "IoU": 0.352}
    iclr = next(r for r in tables["iclr_main"]["rows"] if r["name"] == "Overall")
    assert iclr["paper"] == {"Acc": 0.982, "IoU": 0.360}
    seed_002 = (
        next((REPO.parent / "shared" / "seeds").glob("002_*.txt"), None)
        if (REPO.parent / "shared").exists()
        else None
    )
    generators = [r for r in tables["table2_per_generator"]["rows"] if "metrics" not in r]
    assert len(generators) == 27  # 002 Table 2 lists 27 generators (seeds.md §5.6)
    if seed_002 is not None:
        text = seed_002.read_text(encoding="utf-8")
        for row in generators:
            acc, iou = row["paper"]["Acc"], row["paper"]["IoU"]
            assert f"{acc:.3f}\t{iou:.3f}" in text, row["name"]
    fakescope = {t["id"]: t for t in results["fakescope"]["tables"]}
    average = next(r for r in fakescope["table5_in_the_wild"]["rows"] if r["name"] == "Average")
    assert average["paper"] == {"AP": 78.46, "AUC": 80.09}
