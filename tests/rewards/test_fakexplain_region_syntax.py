"""The region spellings and layouts the FakeXplain parser reads (rewards/fakexplain_parser.py):
ms-swift's grounding tokens, the same with the special tokens decoded away, the authors' layout
(tag block inside think), and the reward's lenient reading of broken answers."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.fakexplain import compute_score, score_keys
from rewards.fakexplain_parser import parse_response, read_response_fields
from rewards.fakexplain_weights import weights_from_kwargs

REF_START, REF_END, BOX_START, BOX_END = (
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
)


def token(box, label="a paw with five toes", sep=""):
    x1, y1, x2, y2 = box
    return f"{REF_START}{label}{REF_END}{sep}{BOX_START}({x1},{y1}),({x2},{y2}){BOX_END}"


def ours(think, tags="Texture errors", verdict="fake"):
    return f"<think>{think}</think>\n<tag>{tags}</tag>\n<verdict>{verdict}</verdict>"


def authors(think, tags="Texture errors", verdict="generated", after=""):
    return f"<think>{think}<tag>{tags}</tag>{after}</think><verdict>{verdict}</verdict>"


A, B = (10, 20, 110, 220), (300, 40, 380, 90)


@pytest.mark.parametrize(
    "text",
    [
        ours(f"Look: {token(A)}, {token(B, 'garbled text')}."),
        ours(f"{token(A)}{token(B, 'garbled text')}"),
        authors(f"{token(A)}{token(B, 'garbled text')}The fur turns metallic."),
        authors(f"{token(A)}", after=f"And {token(B, 'garbled text')}."),  # regions on both sides of the tags
        ours(f"{token(A, sep=' ')} and {token(B, 'garbled text', sep=chr(10))}"),  # whitespace between ref and box
        # the authors' own GRPO loader writes str(bbox) inside the box tokens
        ours(f"{REF_START}a paw with five toes{REF_END}{BOX_START}[10, 20, 110, 220]{BOX_END} "
             f"{REF_START}garbled text{REF_END}{BOX_START}[300, 40, 380, 90]{BOX_END}"),
        # decoded with skip_special_tokens=True (verl's reward managers, the evaluation backends)
        ours("Suspicious regions: a paw with five toes(10,20),(110,220), garbled text(300, 40), (380, 90)."),
        authors("a paw with five toes(10,20),(110,220)garbled text(300,40),(380,90)The fur turns metallic."),
    ],
)  # fmt: skip
def test_token_syntax_parses_to_the_same_regions(text):
    parsed = parse_response(text)
    assert parsed.ok, parsed.error
    assert parsed.verdict == "fake"
    assert parsed.boxes == (tuple(map(float, A)), tuple(map(float, B)))
    assert parsed.region_labels == ("a paw with five toes", "garbled text")
    assert parsed.tags == ("Texture errors",)


def test_token_regions_are_clipped_to_the_frame():
    parsed = parse_response(ours(token((-5, 10, 700, 30))), frame=(640, 480))
    assert parsed.ok and parsed.boxes == ((0.0, 10.0, 640.0, 30.0),)


def test_real_answer_without_a_tag_block_is_the_authors_format():
    parsed = parse_response("<think>Lighting and shadows agree.</think>\n<verdict>real</verdict>")
    assert parsed.ok and parsed.verdict == "real" and parsed.tags == () and parsed.boxes == ()


@pytest.mark.parametrize(
    "think, why",
    [
        (f"{BOX_START}(1,2),(3,4){BOX_END}", "every region needs"),  # a box without its description
        (f"{REF_START}a paw{REF_END}", "every region needs"),  # a description without its box
        (f"{REF_START}a paw{REF_END} is at {BOX_START}(1,2),(3,4){BOX_END}", "every region needs"),
        (f"{BOX_START}(1,2),(3,4){BOX_END}{REF_START}a paw{REF_END}", "every region needs"),
        (f"{REF_START}{REF_START}a{REF_END}{REF_END}{BOX_START}(1,2),(3,4){BOX_END}", "every region needs"),
        (token((1, 2, 3, 4), label="  "), "must not be empty"),
        (token((5, 2, 3, 4)), "x1 < x2"),
        (f"{REF_START}a{REF_END}{BOX_START}(1,2),(3){BOX_END}", "must be (x1,y1),(x2,y2)"),
        (f"{REF_START}a{REF_END}{BOX_START}(1e3,2),(3,4){BOX_END}", "must be (x1,y1),(x2,y2)"),
        (f"{REF_START}a{REF_END}{BOX_START}({'9' * 400},2),(3,4){BOX_END}", "finite"),
        ("a paw(9,2),(3,4)", "x1 < x2"),  # stripped tokens: an inverted box
        ("(1,2),(3,4) is the paw", "must not be empty"),  # stripped tokens: no description before it
    ],
)
def test_broken_token_regions_break_the_format(think, why):
    parsed = parse_response(ours(think))
    assert not parsed.ok and why in parsed.error, parsed.error


def test_a_json_and_a_token_region_in_one_answer():
    text = ours(
        json.dumps({"bbox_2d": list(A), "label": "a paw with five toes"}) + " " + token(B, "garbled text")
    )
    parsed = parse_response(text)
    assert parsed.ok and parsed.boxes == (tuple(map(float, A)), tuple(map(float, B)))


# ---- the reward's lenient reading ---------------------------------------------------------------

GT = json.dumps({"label": "fake", "boxes": [list(A), list(B)]})


@pytest.mark.parametrize(
    "text, verdict, boxes",
    [
        (ours(token(A)) + " thanks!", "fake", [A]),
        ("Sure. " + authors(token(A) + token(B)), "fake", [A, B]),
        (ours(token(A)) + "<verdict>real</verdict>", "real", [A]),  # the last verdict block counts
        (ours(token(A)).replace("</verdict>", "</verdict></verdict>"), "fake", [A]),
        (ours(token(A)).replace("</verdict>", ""), None, [A]),  # no closed verdict: none
        (ours(token(A), verdict="maybe"), None, [A]),
        (f"{token(A)} {token(B)} generated", None, [A, B]),  # regions anywhere count
        (f"{token(A)}{BOX_START}(1,2),(3,4){BOX_END}", None, [A, (1, 2, 3, 4)]),  # even a bare box
        (ours(f"{token(A)} and {BOX_START}garbage{BOX_END}"), "fake", [A]),  # the valid ones only
        ('{"regions": [{"bbox_2d": [10, 20, 110, 220], "label": "x"}]} <verdict>fake</verdict>', "fake", [A]),
        ("a paw(10,20),(110,220) oh and <verdict>Generated</verdict>", "fake", [A]),
    ],
)
def test_lenient_reading_of_a_broken_answer(text, verdict, boxes):
    error, read_verdict, read_boxes = read_response_fields(text)
    assert error is not None
    assert read_verdict == verdict
    assert [tuple(map(float, b)) for b in boxes] == list(read_boxes)


def test_lenient_reading_equals_the_strict_one_on_a_valid_answer():
    text = authors(token(A) + token(B))
    strict = parse_response(text, frame=(200, 200))
    assert read_response_fields(text, frame=(200, 200)) == (None, strict.verdict, strict.boxes)


def test_broken_answer_keeps_its_label_and_grounding_terms():
    text = ours(token(A) + token(B)) + "\nI hope this helps."
    assert compute_score("fakexplained", text, GT) == {
        "score": 1.0,
        "format": -1.0,
        "label": 1.0,
        "iou": 1.0,
        "grounding": 1.0,
        "acc": 1.0,
        "w_iou": 1.0,
    }


# ---- never raises, stays in bounds, in every syntax ---------------------------------------------

weights = st.fixed_dictionaries(
    {},
    optional={
        "relax": st.sampled_from(["clip", "power"]),
        "coupled": st.booleans(),
        "iou_mode": st.sampled_from(["union", "matched"]),
        "r_base": st.floats(-3, 3),
    },
)
pieces = st.sampled_from(
    [REF_START, REF_END, BOX_START, BOX_END, "(", ")", ",", "[", "]", "1", "20", "-3", "3.5", " ", "\n",
     "<think>", "</think>", "<tag>", "</tag>", "<verdict>", "</verdict>", "generated", "real", "a paw",
     '{"bbox_2d": [', '], "label": "x"}', "Texture errors", ";", ".", ":"]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(pieces, max_size=60).map("".join), weights, st.sampled_from([GT, '{"label": "real"}']))
def test_token_noise_never_raises_and_stays_within_bounds(text, kwargs, truth):
    result = compute_score("fakexplained", text, truth, {"width": 400, "height": 300}, **kwargs)
    assert tuple(result) == score_keys
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    low, high = weights_from_kwargs(kwargs).score_bounds()
    assert low - 1e-9 <= result["score"] <= high + 1e-9
    assert 0.0 <= result["iou"] <= 1.0 and 0.0 <= result["grounding"] <= 1.0
    parsed = parse_response(text)
    assert parsed.ok == (parsed.error is None) and len(parsed.boxes) == len(parsed.region_labels)


numbers = st.one_of(st.integers(-(10**5), 10**5), st.floats(-1e5, 1e5).map(lambda v: round(v, 2)))


@settings(max_examples=800, deadline=None)
@given(
    st.lists(st.tuples(numbers, numbers, numbers, numbers), max_size=6),
    st.sampled_from(["tokens", "bare", "list"]),
    st.sampled_from(["fake", "real", "generated"]),
    st.booleans(),
)
def test_near_valid_token_answers_score_within_bounds(boxes, form, verdict, authors_layout):
    def spell(box):
        x1, y1, x2, y2 = box
        if form == "bare":
            return f"a paw({x1},{y1}),({x2},{y2}), "
        inside = f"({x1},{y1}),({x2},{y2})" if form == "tokens" else f"[{x1}, {y1}, {x2}, {y2}]"
        return f"{REF_START}a paw{REF_END}{BOX_START}{inside}{BOX_END}"

    regions = "".join(spell(b) for b in boxes)
    text = authors(regions, verdict=verdict) if authors_layout else ours(regions, verdict=verdict)
    result = compute_score("fakexplained", text, GT, {"width": 500, "height": 400})
    assert -2.0 <= result["score"] <= 3.0
    parsed = parse_response(text, frame=(500, 400))
    valid = all(x1 < x2 and y1 < y2 for x1, y1, x2, y2 in boxes)
    assert parsed.ok == valid, (parsed.error, text)
    if valid:
        assert len(parsed.boxes) == len(boxes)
        assert all(0 <= v <= 500 for b in parsed.boxes for v in b[::2])
