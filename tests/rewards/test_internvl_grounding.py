"""InternVL's grounding syntax in FakeXplain answers: the reward's parser and the reward itself.

Faithful samples of what InternVL2.5 writes: ms-swift 4.6's internvl2_5 template renders a region
as ``<ref>{ref}</ref>`` + ``f'<box>[{bbox}]</box>'`` of a Python int list, i.e.
``<ref>a paw</ref><box>[[138, 265, 482, 811]]</box>`` (swift/template/templates/internvl.py), in
0-1000 units (norm_bbox 'norm1000'); the InternVL chat model also answers several boxes of one
phrase as ``[[..], [..]]`` and without spaces (its grounding prompts' outputs); the FakeXplain
authors' public reward parses exactly ``<ref>...</ref><box>[[x1, y1, x2, y2]]</box>``
(research/seeds.md §5). Boxes come back in the same 0-1000 units the ground truth is written in.
"""

from __future__ import annotations

import json

import pytest

from rewards.fakexplain import compute_score, parse_answer
from rewards.fakexplain_parser import parse_response, read_response_fields

FRAME = (1000, 1000)  # data preparation's frame for InternVL (extra_info width/height)


def _answer(think: str, verdict: str = "fake", tags: str = "Texture errors") -> str:
    return f"<think>{think}</think>\n<tag>{tags}</tag>\n<verdict>{verdict}</verdict>"


SWIFT_RENDERED = _answer(
    "The image shows signs of generation. Suspicious regions: "
    "<ref>a paw with five toes</ref><box>[[138, 265, 482, 811]]</box>, "
    "<ref>fur with a metallic sheen</ref><box>[[500, 67, 967, 333]]</box>."
)
MULTI_BOX = _answer(
    "<ref>distorted fingers</ref><box>[[10, 20, 110, 220], [600, 620, 700, 800]]</box> stand out."
)
NO_SPACES = _answer("<ref>garbled text</ref><box>[[0,0,1000,1000]]</box>")
AUTHORS_LAYOUT = (
    "<think><ref>a lamp that melts into the wall</ref><box>[[0, 0, 320, 480]]</box> The lamp is fused "
    "with the wall.<tag>Structure/attribute errors</tag></think><verdict>generated</verdict>"
)


@pytest.mark.parametrize(
    "text,boxes,labels",
    [
        (
            SWIFT_RENDERED,
            [(138, 265, 482, 811), (500, 67, 967, 333)],
            ["a paw with five toes", "fur with a metallic sheen"],
        ),
        (MULTI_BOX, [(10, 20, 110, 220), (600, 620, 700, 800)], ["distorted fingers"] * 2),
        (NO_SPACES, [(0, 0, 1000, 1000)], ["garbled text"]),
        (AUTHORS_LAYOUT, [(0, 0, 320, 480)], ["a lamp that melts into the wall"]),
    ],
)
def test_internvl_regions_parse(text: str, boxes: list, labels: list) -> None:
    parsed = parse_response(text, FRAME)
    assert parsed.ok, parsed.error
    assert parsed.verdict == "fake"
    assert [tuple(b) for b in parsed.boxes] == [tuple(float(v) for v in b) for b in boxes]
    assert list(parsed.region_labels) == labels
    # the evaluation reads answers with the same parser (response format think_tag_verdict)
    answer = parse_answer(text, FRAME)
    assert answer.ok and list(answer.boxes) == list(parsed.boxes)


@pytest.mark.parametrize(
    "think,error",
    [
        # missing the outer list brackets: not what InternVL or ms-swift write
        ("<ref>a paw</ref><box>[138, 265, 482, 811]</box>", "must hold [[x1, y1, x2, y2]]"),
        ("<ref>a paw</ref><box>138, 265, 482, 811</box>", "must hold [[x1, y1, x2, y2]]"),
        ("<ref>a paw</ref><box>[[138, 265, 482]]</box>", "must hold [[x1, y1, x2, y2]]"),
        # outside InternVL's 0-1000 units (a pixel box written by mistake)
        ("<ref>a paw</ref><box>[[138, 265, 1482, 811]]</box>", "must lie in 0..1000"),
        # swapped corners
        ("<ref>a paw</ref><box>[[482, 265, 138, 811]]</box>", "x1 < x2 and y1 < y2"),
        ("<ref>a paw</ref><box>[[138, 811, 482, 265]]</box>", "x1 < x2 and y1 < y2"),
        # broken markup
        ("<ref>a paw<box>[[138, 265, 482, 811]]</box>", "<ref>description</ref><box>"),
        ("<box>[[138, 265, 482, 811]]</box>", "<ref>description</ref><box>"),
        ("<ref>a paw</ref> is odd <box>[[138, 265, 482, 811]]</box>", "<ref>description</ref><box>"),
        ("<ref> </ref><box>[[138, 265, 482, 811]]</box>", "description must not be empty"),
    ],
)
def test_malformed_internvl_regions_say_why(think: str, error: str) -> None:
    parsed = parse_response(_answer(think), FRAME)
    assert not parsed.ok
    assert error in parsed.error
    assert parsed.boxes == ()


def _truth(boxes: list[list[int]]) -> str:
    return json.dumps({"label": "fake", "boxes": boxes})


def test_reward_scores_internvl_boxes_against_a_0_1000_ground_truth() -> None:
    truth = _truth([[138, 265, 482, 811], [500, 67, 967, 333]])
    info = {"width": FRAME[0], "height": FRAME[1]}
    exact = compute_score("fakexplained", SWIFT_RENDERED, truth, info)
    assert exact["format"] == 1.0 and exact["acc"] == 1.0 and exact["iou"] == pytest.approx(1.0)
    # half of the first box only: IoU is the area ratio in these units
    half = _answer("<ref>a paw</ref><box>[[138, 265, 310, 811]]</box>")
    first_only = compute_score("fakexplained", half, _truth([[138, 265, 482, 811]]), info)
    assert first_only["iou"] == pytest.approx(0.5)


def test_reward_reads_malformed_internvl_answers_leniently() -> None:
    info = {"width": FRAME[0], "height": FRAME[1]}
    truth = _truth([[100, 100, 1000, 900]])
    # past 1000: the format term is lost, the box still counts, clipped to the 0-1000 frame
    over = compute_score(
        "fakexplained", _answer("<ref>sky</ref><box>[[100, 100, 1200, 900]]</box>"), truth, info
    )
    assert over["format"] == -1.0 and over["iou"] == pytest.approx(1.0)
    # swapped corners: no box can be read, no grounding
    swapped = compute_score(
        "fakexplained", _answer("<ref>sky</ref><box>[[1000, 100, 100, 900]]</box>"), truth, info
    )
    assert swapped["format"] == -1.0 and swapped["iou"] == 0.0 and swapped["acc"] == 1.0
    error, verdict, boxes = read_response_fields(
        _answer("<ref>sky</ref><box>[100, 100, 1000, 900]</box>"), FRAME
    )
    assert error is not None and verdict == "fake" and boxes == ()


def _strip_markup(text: str) -> str:
    """What a decoder with skip_special_tokens=True leaves of an InternVL answer: its <ref>, </ref>,
    <box>, </box> are added special tokens of InternVL's tokenizer."""
    for token in ("<ref>", "</ref>", "<box>", "</box>"):
        text = text.replace(token, "")
    return text


@pytest.mark.parametrize("text", [SWIFT_RENDERED, MULTI_BOX, NO_SPACES])
def test_answers_decoded_without_special_tokens_keep_their_boxes(text: str) -> None:
    full, bare = parse_response(text, FRAME), parse_response(_strip_markup(text), FRAME)
    assert bare.ok, bare.error
    assert bare.boxes == full.boxes and bare.boxes
    assert bare.region_labels == full.region_labels


def test_stripped_answers_are_checked_and_scored_like_marked_ones() -> None:
    over = _strip_markup(_answer("<ref>sky</ref><box>[[100, 100, 1200, 900]]</box>"))
    assert "must lie in 0..1000" in parse_response(over, FRAME).error
    info = {"width": FRAME[0], "height": FRAME[1]}
    truth = _truth([[138, 265, 482, 811], [500, 67, 967, 333]])
    score = compute_score("fakexplained", _strip_markup(SWIFT_RENDERED), truth, info)
    assert score["format"] == 1.0 and score["iou"] == pytest.approx(1.0)
    # a JSON tag list is not a box list; a Qwen-style bare box still reads as before
    assert parse_response(_answer("plain reasoning", tags='["Texture errors"]'), FRAME).boxes == ()
    qwen = parse_response(_answer("a paw(10,20),(30,40)"), (100, 100))
    assert qwen.ok and qwen.boxes == ((10.0, 20.0, 30.0, 40.0),)
