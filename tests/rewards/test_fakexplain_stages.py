"""Hand-derived scores of FakeXplain's reward under each configured schedule.

score = r_base + w_iou * grounding + label + format, each term scored on its own. The weights are
conf/reward/fakexplain.yaml's (the staged ones are the authors' code's, stage{1,2,3}_reward.py):

    stage   r_base  w_iou  label +/-   format +/-
    alpha    0      1.0    +1 / -1     +2 / -1
    beta    -0.5    1.5    +2 / -2     +1 / -1.5
    gamma   -1      2.0    +0.5 / -1   +0.5 / -1
    linear   0      0.5 -> 1.0 (0.75 at half time)   +1 / -1   +1 / -1
"""

from __future__ import annotations

import json

import pytest

from rewards.fakexplain import compute_score

GT = [(100, 100, 200, 200), (300, 100, 400, 200)]  # two 100 x 100 boxes, apart
FAKE_GT = json.dumps({"label": "fake", "boxes": [list(b) for b in GT]})
REAL_GT = json.dumps({"label": "real", "boxes": []})


def json_region(box, label="a paw with five toes"):
    return json.dumps({"bbox_2d": list(box), "label": label})


def token_region(box, label="a paw with five toes"):
    x1, y1, x2, y2 = box
    return f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def ours(regions="", tags="Texture errors", verdict="fake"):
    return f"<think>Suspicious regions: {regions}.</think>\n<tag>{tags}</tag>\n<verdict>{verdict}</verdict>"


def authors(regions="", tags="Texture errors", verdict="generated"):
    # the authors' layout: regions first, the tag block inside <think>, the verdict "generated"
    return f"<think>{regions}The fur turns metallic.<tag>{tags}</tag></think><verdict>{verdict}</verdict>"


BOTH_JSON = ", ".join(json_region(b) for b in GT)
BOTH_TOKENS = "".join(token_region(b) for b in GT)

CASES = {
    # name: (response, ground truth)
    "perfect": (ours(BOTH_JSON), FAKE_GT),
    "json syntax": (ours(BOTH_JSON), FAKE_GT),
    "token syntax": (ours(BOTH_TOKENS), FAKE_GT),
    "token syntax, specials stripped": (ours("a paw(100,100),(200,200), a paw(300,100),(400,200)"), FAKE_GT),
    "tag inside think": (authors(BOTH_TOKENS), FAKE_GT),
    "wrong label": (ours(BOTH_JSON, verdict="real"), FAKE_GT),
    "trailing text": (ours(BOTH_JSON) + " I hope this helps.", FAKE_GT),
    "bad tag": (ours(BOTH_JSON, tags="Texture errors, Blurry"), FAKE_GT),
    "no region on a fake": (ours("none"), FAKE_GT),
    "region on a real": (ours(json_region((0, 0, 50, 50)), tags="", verdict="real"), REAL_GT),
    "half the region": (ours(json_region(GT[0])), FAKE_GT),  # union IoU 0.5
}

# (r_base, w_iou, label_pos, label_neg, format_pos, format_neg), as in the table above.
WEIGHTS = {
    "alpha": (0.0, 1.0, 1.0, 1.0, 2.0, 1.0),
    "beta": (-0.5, 1.5, 2.0, 2.0, 1.0, 1.5),
    "gamma": (-1.0, 2.0, 0.5, 1.0, 0.5, 1.0),
    "linear": (0.0, 0.75, 1.0, 1.0, 1.0, 1.0),
}

# score by hand: r_base + w_iou * grounding (+label_pos | -label_neg) (+format_pos | -format_neg)
EXPECTED = {
    #                     alpha                 beta                        gamma                    linear (w 0.75)
    "perfect": (0 + 1 + 1 + 2, -0.5 + 1.5 + 2 + 1, -1 + 2 + 0.5 + 0.5, 0.75 + 1 + 1),
    "json syntax": (4.0, 4.0, 2.0, 2.75),
    "token syntax": (4.0, 4.0, 2.0, 2.75),
    "token syntax, specials stripped": (4.0, 4.0, 2.0, 2.75),
    "tag inside think": (4.0, 4.0, 2.0, 2.75),
    "wrong label": (0 + 1 - 1 + 2, -0.5 + 1.5 - 2 + 1, -1 + 2 - 1 + 0.5, 0.75 - 1 + 1),
    "trailing text": (0 + 1 + 1 - 1, -0.5 + 1.5 + 2 - 1.5, -1 + 2 + 0.5 - 1, 0.75 + 1 - 1),
    "bad tag": (1.0, 1.5, 0.5, 0.75),
    "no region on a fake": (0 + 0 + 1 + 2, -0.5 + 0 + 2 + 1, -1 + 0 + 0.5 + 0.5, 0 + 1 + 1),
    "region on a real": (3.0, 2.5, 0.0, 2.0),
    # grounding min(1, 1.1 * 0.5) = 0.55
    "half the region": (0.55 + 1 + 2, -0.5 + 1.5 * 0.55 + 2 + 1, -1 + 2 * 0.55 + 0.5 + 0.5, 0.75 * 0.55 + 2),
}


def _kwargs(conf: dict, stage: str) -> tuple[dict, dict]:
    if stage == "linear":
        return {**conf["schedules"]["linear"], "total_steps": 100}, {"global_steps": 50}
    return conf["schedules"]["staged"][stage], {}


@pytest.mark.parametrize("stage", list(WEIGHTS))
def test_configured_weights_are_the_table(fakexplain_conf, stage):
    kwargs, _ = _kwargs(fakexplain_conf, stage)
    r_base, w_iou, lp, ln, fp, fn = WEIGHTS[stage]
    assert (kwargs["r_base"], kwargs["label_pos"], kwargs["label_neg"]) == (r_base, lp, ln)
    assert (kwargs["format_pos"], kwargs["format_neg"]) == (fp, fn)
    if stage != "linear":
        assert kwargs["w_iou"] == w_iou


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("column, stage", list(enumerate(WEIGHTS)))
def test_hand_derived_score(fakexplain_conf, case, column, stage):
    response, truth = CASES[case]
    kwargs, extra_info = _kwargs(fakexplain_conf, stage)
    result = compute_score("fakexplained", response, truth, extra_info, **kwargs)
    assert result["score"] == pytest.approx(EXPECTED[case][column]), (case, stage, result)


@pytest.mark.parametrize("stage", list(WEIGHTS))
def test_coupled_scores_a_broken_answer_as_a_wrong_label_without_grounding(fakexplain_conf, stage):
    kwargs, extra_info = _kwargs(fakexplain_conf, stage)
    r_base, _, _, ln, _, fn = WEIGHTS[stage]
    for case in ("trailing text", "bad tag"):
        response, truth = CASES[case]
        result = compute_score("fakexplained", response, truth, extra_info, **{**kwargs, "coupled": True})
        assert result["score"] == pytest.approx(r_base - ln - fn), (case, stage)
    perfect = compute_score(
        "fakexplained", CASES["perfect"][0], FAKE_GT, extra_info, **{**kwargs, "coupled": True}
    )
    assert perfect["score"] == pytest.approx(EXPECTED["perfect"][list(WEIGHTS).index(stage)])


@pytest.mark.parametrize("stage", list(WEIGHTS))
def test_relax_power_is_the_authors_exponent(fakexplain_conf, stage):
    kwargs, extra_info = _kwargs(fakexplain_conf, stage)
    r_base, w_iou, lp, _, fp, _ = WEIGHTS[stage]
    result = compute_score(
        "fakexplained", CASES["half the region"][0], FAKE_GT, extra_info, **{**kwargs, "relax": "power"}
    )
    assert result["grounding"] == pytest.approx(0.5**1.1)  # 0.4665 where clip gives 0.55
    assert result["score"] == pytest.approx(r_base + w_iou * 0.5**1.1 + lp + fp)
