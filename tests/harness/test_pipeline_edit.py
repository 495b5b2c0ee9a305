"""`pipeline_edit`: an overlay changes the recipe's stage list instead of restating it."""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf

from common.errors import ConfigError
from harness.pipeline import bypassed_stages, stage_names

from .conftest import compose_paper

STAGES = [
    "download",
    "prepare",
    "sft",
    "merge",
    "grpo",
    "eval",
    "eval_jpeg",
    "report",
    "tiny",
    "synth",
    "cpu",
]


def _names(edit: Any, variants: dict[str, list[str]] | None = None, variant: str | None = None) -> list[str]:
    cfg: dict[str, Any] = {"stages": {name: {"kind": "eval"} for name in STAGES}, "pipeline_edit": edit}
    if variants:
        cfg |= {"variants": variants, "variant": variant}
    else:
        cfg["pipeline"] = ["download", "prepare", "sft", "merge", "grpo", "eval", "eval_jpeg", "report"]
    return stage_names(OmegaConf.create(cfg))


def _problems(edit: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _names(edit, **kwargs)
    return [str(p) for p in caught.value.problems]


def test_no_edit_is_the_recipe_list() -> None:
    assert _names(None) == ["download", "prepare", "sft", "merge", "grpo", "eval", "eval_jpeg", "report"]


def test_operations_apply_in_their_documented_order() -> None:
    edit = {
        "last": ["cpu"],  # written first, applied last
        "drop": ["download", "eval_jpeg"],
        "replace": {"grpo": ["synth"]},
        "first": ["tiny"],
        "before": {"eval": ["grpo"]},  # grpo was replaced away, so it can come back elsewhere
        "after": {"tiny": ["download"]},
    }
    assert _names(edit) == [
        "tiny",
        "download",
        "prepare",
        "sft",
        "merge",
        "synth",
        "grpo",
        "eval",
        "report",
        "cpu",
    ]


def test_variant_edits_apply_after_the_shared_ones_and_only_to_their_variant() -> None:
    variants = {
        "a": ["prepare", "sft", "eval", "report"],
        "b": ["prepare", "grpo", "eval_jpeg", "eval", "report"],
    }
    edit = {"first": ["tiny"], "variants": {"b": {"drop": ["eval_jpeg"], "after": {"grpo": ["cpu"]}}}}
    assert _names(edit, variants, "a") == ["tiny", "prepare", "sft", "eval", "report"]
    assert _names(edit, variants, "b") == ["tiny", "prepare", "grpo", "cpu", "eval", "report"]


def test_mistakes_name_the_edit_key() -> None:
    assert _problems(
        {
            "drop": ["downlaod"],
            "frist": ["tiny"],
            "before": {"evl": ["cpu"]},
            "after": {"sft": ["sft", "nope"]},
            "variants": {"b": {"drop": ["x"]}},
        }
    ) == [
        "pipeline_edit.frist: unknown edit (did you mean: first?); known: drop, replace, first, before, after, last, keep, variants",
        "pipeline_edit.drop[0]: stage 'downlaod' is not in the stage list (did you mean: download?); "
        "list: download, prepare, sft, merge, grpo, eval, eval_jpeg, report",
        "pipeline_edit.before.evl: stage 'evl' is not in the stage list (did you mean: eval?); "
        "list: download, prepare, sft, merge, grpo, eval, eval_jpeg, report",
        "pipeline_edit.after.sft[0]: stage 'sft' is already in the stage list",
        "pipeline_edit.after.sft[1]: stage 'nope' is not defined under stages",
        "pipeline_edit.variants.b: no such variant; this paper has no variants",
    ]
    assert _problems({"first": "tiny"}) == ["pipeline_edit.first: must be a list of stage names, got 'tiny'"]
    # run_edit=5 on the command line was an AttributeError traceback
    assert _problems(5) == [
        "pipeline_edit: must be a mapping of drop, replace, first, before, after, last, keep"
    ]


def test_the_fakexplain_smoke_overlay_edits_both_variants() -> None:
    for variant in ("linear", "staged"):
        full = compose_paper("fakexplain", f"variant={variant}")
        smoke = compose_paper("fakexplain", f"variant={variant}", "profile=smoke")
        recipe, edited = stage_names(full), stage_names(smoke)
        edit = smoke.pipeline_edit
        dropped = set(edit.drop) | set(edit.variants.get(variant, {}).get("drop", []))
        dropped |= set(bypassed_stages(smoke, recipe))  # the smoke's full SFT leaves merge_sft out
        kept = [name for name in recipe if name not in dropped]
        # The recipe's order, minus the drops (a dropped evaluation may come back after the CPU GRPO).
        added = {name for names in edit.variants[variant].before.values() for name in names}
        assert [name for name in edited if name in recipe and name not in added] == kept
        assert edited[: len(edit.first)] == list(edit.first)
        added_before_eval = list(edit.variants[variant].before.eval)
        assert (
            edited[edited.index("eval") - len(added_before_eval) : edited.index("eval")] == added_before_eval
        )


def test_planning_copies_the_config_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """build_plan shares one ExtendsExpansion between the stage list, the bypass rules and the stage
    specs (each copy of the config was about a tenth of a dry run)."""
    from harness import pipeline
    from harness.plan import build_plan

    made: list[int] = []
    original = pipeline.ExtendsExpansion.__init__

    def counting(self: pipeline.ExtendsExpansion, cfg: Any) -> None:
        made.append(1)
        original(self, cfg)

    monkeypatch.setattr(pipeline.ExtendsExpansion, "__init__", counting)
    # The staged smoke: its full SFT's bypass rule asks what merge_sft reads, and its CPU GRPO
    # stages extend grpo_cpu.
    cfg = compose_paper("fakexplain", "variant=staged", "profile=smoke")
    plan = build_plan(cfg, run_name="x")
    assert len(made) == 1
    names = [s.name for s in plan.stages]
    assert "merge_sft" not in names and "grpo_cpu_beta" in names
    beta = plan.stage("grpo_cpu_beta").spec
    assert beta.kind == "swift_rlhf" and beta.get("inputs")["model"] == "stage:merge_cpu_alpha"
    assert stage_names(cfg) == names
