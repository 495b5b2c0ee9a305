"""FakeXplain reward switches (002 §5.3 ablations): a disabled term contributes nothing and every other
term is scored exactly as without the switch; a no-bbox run has no grounding term; GRPO runs with the
fixed weights of any stage of 002 §4.4; each switch reaches verl's argv from the Hydra recipe."""

from __future__ import annotations

import json

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from rewards.fakexplain import compute_score
from rewards.fakexplain_weights import TERMS, check_reward_kwargs

from .test_fakexplain_stages import CASES, FAKE_GT, GT, REAL_GT, json_region, ours

FRAME = {"width": 640, "height": 480, "global_steps": 5}
KWARGS = {
    "alpha": {"w_iou": 1.0, "label_pos": 1.0, "label_neg": 1.0, "format_pos": 2.0, "format_neg": 1.0},
    "gamma": {
        "w_iou": 2.0,
        "label_pos": 0.5,
        "label_neg": 1.0,
        "format_pos": 0.5,
        "format_neg": 1.0,
        "r_base": -1.0,
    },
    "linear": {"w_iou_start": 0.5, "w_iou_end": 1.0, "total_steps": 10},
}
# What each term adds to the score.
CONTRIBUTION = {
    "format": lambda s: s["format"],
    "label": lambda s: s["label"],
    "grounding": lambda s: s["w_iou"] * s["grounding"],
}


def _score(response: str, truth: str, **kwargs) -> dict[str, float]:
    return compute_score("fakexplained", response, truth, dict(FRAME), **kwargs)


@pytest.mark.parametrize("schedule", sorted(KWARGS))
@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_disabled_term_contributes_nothing_and_the_others_are_unchanged(case, term, schedule):
    response, truth = CASES[case]
    full = _score(response, truth, **KWARGS[schedule])
    ablated = _score(response, truth, **KWARGS[schedule], disabled_terms=[term])
    assert ablated[term] == 0.0
    assert ablated["score"] == pytest.approx(full["score"] - CONTRIBUTION[term](full))
    for key in full:
        if key not in (term, "score"):
            assert ablated[key] == full[key], key


def test_every_term_disabled_leaves_the_constant():
    response, truth = CASES["perfect"]
    scored = _score(response, truth, **KWARGS["gamma"], disabled_terms=list(TERMS))
    assert scored["score"] == -1.0 and (scored["format"], scored["label"], scored["grounding"]) == (0, 0, 0)
    assert scored["acc"] == 1.0  # measurements stay


def test_a_ground_truth_without_boxes_disables_grounding_by_itself():
    """data_prep's drop [boxes] / label_only write "grounding": false: no R_G, the rest unchanged."""
    no_box_truth = json.dumps({"label": "fake", "boxes": [], "grounding": False})
    response, _ = CASES["perfect"]
    for kwargs in KWARGS.values():
        plain = _score(response, FAKE_GT, **kwargs)
        scored = _score(response, no_box_truth, **kwargs)
        assert scored["grounding"] == 0.0 and plain["grounding"] == 1.0
        assert scored["score"] == pytest.approx(plain["score"] - plain["w_iou"])
        assert (scored["label"], scored["format"]) == (plain["label"], plain["format"])
    assert _score(response, json.dumps({"label": "fake", "boxes": [], "grounding": "no"}))["score"] == 0.0


def test_a_verdict_only_ground_truth_disables_format_by_itself():
    """data_prep's label_only writes "format": false: no format term, the rest unchanged."""
    for response, truth in CASES.values():
        data = json.loads(truth)
        verdict_only = json.dumps({**data, "format": False})
        for kwargs in KWARGS.values():
            plain = _score(response, truth, **kwargs)
            scored = _score(response, verdict_only, **kwargs)
            assert scored["format"] == 0.0
            assert scored["score"] == pytest.approx(plain["score"] - plain["format"])
            assert {k: v for k, v in scored.items() if k not in ("format", "score")} == {
                k: v for k, v in plain.items() if k not in ("format", "score")
            }
    # A value that is not a bool is a malformed ground truth: the neutral score, as for "grounding".
    assert (
        _score(CASES["perfect"][0], json.dumps({"label": "fake", "boxes": [], "format": 0}))["score"] == 0.0
    )


def test_no_bbox_run_gives_no_grounding_term():
    """002 §5.3: without boxes R_G is disabled. The no-bbox ground truth has no boxes; with the
    switch, answering with or without regions scores the same, and only label and format count."""
    no_box_truth = json.dumps({"label": "fake", "boxes": []})
    with_regions = ours(", ".join(json_region(b) for b in GT))
    without = ours("none")
    on = dict(disabled_terms=["grounding"], **KWARGS["alpha"])
    a, b = _score(with_regions, no_box_truth, **on), _score(without, no_box_truth, **on)
    assert a["grounding"] == b["grounding"] == 0.0
    assert a["score"] == b["score"] == 1.0 + 2.0  # label_pos + format_pos
    # Without the switch the empty ground truth would reward answering without regions.
    off = (
        _score(with_regions, no_box_truth, **KWARGS["alpha"]),
        _score(without, no_box_truth, **KWARGS["alpha"]),
    )
    assert off[1]["score"] - off[0]["score"] == 1.0


def test_label_only_run_scores_the_verdict_alone():
    on = dict(disabled_terms=["grounding", "format"], **KWARGS["alpha"])
    assert _score("<verdict>fake</verdict>", FAKE_GT, **on)["score"] == 1.0
    assert _score("<verdict>real</verdict>", FAKE_GT, **on)["score"] == -1.0
    assert _score("<verdict>real</verdict>", REAL_GT, **on)["score"] == 1.0
    assert (
        _score("<verdict>fake</verdict>", FAKE_GT, **KWARGS["alpha"])["format"] == -1.0
    )  # the switch matters


def test_score_bounds_leave_out_disabled_terms():
    weights = check_reward_kwargs({**KWARGS["alpha"], "disabled_terms": ["grounding"]})
    assert weights.score_bounds() == (-2.0, 3.0)
    assert check_reward_kwargs(KWARGS["alpha"]).score_bounds() == (-2.0, 4.0)


@pytest.mark.parametrize(
    "value,message",
    [
        (["grnding"], "unknown term 'grnding' \\(did you mean: grounding\\?\\)"),
        ("grounding,format", "unknown term"),
        ([1], r"\[0\]: must be a string"),
        (3, "list"),
    ],
)
def test_a_bad_term_names_the_kwarg(value, message):
    with pytest.raises(ValueError, match=f"disabled_terms.*{message}"):
        check_reward_kwargs({"disabled_terms": value})


def test_one_name_and_a_tuple_are_accepted_and_cached():
    assert check_reward_kwargs({"disabled_terms": "grounding"}).disabled_terms == ("grounding",)
    a = check_reward_kwargs({"disabled_terms": ["label", "format"]})
    b = check_reward_kwargs({"disabled_terms": ("label", "format")})
    assert a is b and a.disabled_terms == ("format", "label")


# --- from the Hydra recipe to verl's argv ------------------------------------------------------


def _reward_kwargs(stage: str, *overrides: str) -> dict:
    """The reward kwargs of a rendered verl stage, read back the way verl's Hydra reads them."""
    from tests.harness.conftest import plan_for

    argv = plan_for("fakexplain", *overrides).stage(stage).rendered.argv
    prefix = "reward.custom_reward_function.reward_kwargs."
    parsed = OverridesParser.create().parse_overrides([a for a in argv if prefix in a])
    return {o.key_or_group[len(prefix) :]: o.value() for o in parsed}


@pytest.mark.parametrize(
    "variant,stage",
    [("linear", "grpo"), ("staged", "grpo_alpha"), ("staged", "grpo_beta"), ("staged", "grpo_gamma")],
)
def test_disabled_terms_reach_every_grpo_stage(variant, stage):
    kwargs = _reward_kwargs(stage, f"variant={variant}", "reward.disabled_terms=[grounding]")
    assert kwargs["disabled_terms"] == ["grounding"]
    assert _reward_kwargs(stage, f"variant={variant}")["disabled_terms"] == []
    response, truth = CASES["perfect"]
    scored = compute_score("fakexplained", response, truth, dict(FRAME), **kwargs)
    assert scored["grounding"] == 0.0 and scored["label"] > 0 and scored["format"] > 0


@pytest.mark.parametrize("fixed", ["alpha", "beta", "gamma"])
def test_grpo_runs_with_the_fixed_weights_of_any_stage(fixed):
    """002 §5.3 Training strategies: one GRPO run with one stage's weights for all its steps
    (the recipe's grpo stage: 3 epochs, as the three one-epoch stages together)."""
    from tests.harness.conftest import compose_paper

    override = f"stages.grpo.reward.custom_reward_function.reward_kwargs=${{reward.schedules.staged.{fixed}}}"
    kwargs = _reward_kwargs("grpo", override)
    staged = _reward_kwargs(f"grpo_{fixed}", "variant=staged")
    assert kwargs == staged
    assert "w_iou_start" not in kwargs and "w_iou" in kwargs  # constant weights, no schedule
    assert compose_paper("fakexplain", override).stages.grpo.trainer.total_epochs == 3
