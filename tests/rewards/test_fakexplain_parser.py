"""The FakeXplain response contract (rewards/fakexplain_parser.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.fakexplain import ParsedResponse, parse_response
from rewards.tags import FAKEXPLAIN_TAGS


def region(box, label="six fingers on the left hand"):
    return json.dumps({"bbox_2d": list(box), "label": label})


def response(think="The image shows traces of AI generation.", tags="", verdict="fake", sep="\n"):
    return f"<think>{think}</think>{sep}<tag>{tags}</tag>{sep}<verdict>{verdict}</verdict>"


FAKE = response(
    think=f"Suspicious regions: {region((10, 20, 110, 220))}, {region((300, 40, 380, 90), 'garbled text')}.",
    tags="Structure/attribute errors, Texture errors",
)


def test_valid_fake_response():
    parsed = parse_response(FAKE)
    assert parsed == ParsedResponse(
        ok=True,
        verdict="fake",
        boxes=((10.0, 20.0, 110.0, 220.0), (300.0, 40.0, 380.0, 90.0)),
        region_labels=("six fingers on the left hand", "garbled text"),
        tags=("Structure/attribute errors", "Texture errors"),
    )


def test_data_prep_rendered_responses_parse():
    """The responses data preparation writes for SFT are what the reward accepts."""
    from data_prep.fakexplain_format import render_response, vocabulary
    from data_prep.sources.fakexplained import VOCABULARY_FILE

    vocab = vocabulary(VOCABULARY_FILE)
    fake = render_response(
        "fake",
        [((1, 2, 30, 40), "a melted fork"), ((5, 5, 9, 9), "a sixth finger")],
        ["Texture errors", "Other anomalies"],
        vocab.wording,
    )
    parsed = parse_response(fake)
    assert parsed.ok, parsed.error
    assert parsed.boxes == ((1, 2, 30, 40), (5, 5, 9, 9))
    assert parsed.region_labels == ("a melted fork", "a sixth finger")
    real = parse_response(render_response("real", [], [], vocab.wording))
    assert real.ok and real.verdict == "real" and real.boxes == () and real.tags == ()


@pytest.mark.parametrize(
    "word, verdict",
    [
        ("real", "real"),
        ("fake", "fake"),
        ("generated", "fake"),
        (" Generated \n", "fake"),
        ("REAL", "real"),
    ],
)
def test_verdict_words(word, verdict):
    assert parse_response(response(verdict=word)).verdict == verdict


@pytest.mark.parametrize("word", ["", "ai-generated", "real or fake", "yes"])
def test_other_verdicts_are_unparsable(word):
    parsed = parse_response(response(verdict=word))
    assert not parsed.ok and "verdict" in parsed.error


def test_whitespace_around_blocks_is_allowed():
    assert parse_response("  \n" + response(sep=" \n\t ") + "\n\n").ok


@pytest.mark.parametrize(
    "text, why",
    [
        (response() + " thanks", "only whitespace"),
        ("Sure! " + response(), "only whitespace"),
        ("<tag></tag><think>x</think><verdict>fake</verdict>", "in this order"),
        (response(think="<think>nested</think>"), "<think> must appear exactly once"),
        (response() + "<verdict>real</verdict>", "<verdict> must appear exactly once"),
        ("<think>x</think><verdict>fake</verdict>", "<tag> must appear exactly once"),
        ("<think>x<tag></tag></think><verdict>fake</verdict>", "in this order"),  # the authors' nesting
        ("", "<think> must appear exactly once"),
    ],
)
def test_layout_violations(text, why):
    parsed = parse_response(text)
    assert not parsed.ok
    assert why in parsed.error


@pytest.mark.parametrize(
    "obj, why",
    [
        ('{"bbox_2d": [10, 20, 5, 40], "label": "x"}', "x1 < x2"),
        ('{"bbox_2d": [10, 20, 30, 20], "label": "x"}', "y1 < y2"),
        ('{"bbox_2d": [10, 20, 30], "label": "x"}', "4 numbers"),
        ('{"bbox_2d": [10, "20", 30, 40], "label": "x"}', "4 numbers"),
        ('{"bbox_2d": [10, true, 30, 40], "label": "x"}', "4 numbers"),
        ('{"bbox_2d": [NaN, 20, 30, 40], "label": "x"}', "x1 < x2"),
        ('{"bbox_2d": [-Infinity, 20, 30, 40], "label": "x"}', "finite"),
        ('{"bbox_2d": [1e999, 20, 2e999, 40], "label": "x"}', "x1 < x2"),
        ('{"bbox_2d": [' + "9" * 400 + ', 20, 30, 40], "label": "x"}', "finite"),
        ('{"bbox_2d": [10, 20, 30, 40], "label": "  "}', "must not be empty"),
        ('{"bbox_2d": [10, 20, 30, 40], "label": 3}', "must be a string"),
        ('{"bbox_2d": [10, 20, 30, 40]}', "exactly the keys"),
        ('{"bbox_2d": [10, 20, 30, 40], "label": "x", "score": 0.9}', "exactly the keys"),
        ('{"bbox_2d": [10, 20, 30, 40], "label": "x"', "outside a valid region"),  # unclosed
        ("{'bbox_2d': [10, 20, 30, 40], 'label': 'x'}", "outside a valid region"),  # not JSON
        ('{"regions": [{"bbox_2d": [10, 20, 30, 40], "label": "x"}]}', "exactly the keys"),  # wrapped
        ("the bbox_2d of the hand", "outside a valid region"),
    ],
)
def test_invalid_regions_make_the_response_unparsable(obj, why):
    parsed = parse_response(response(think=f"Look: {obj} here."))
    assert not parsed.ok
    assert why in parsed.error


def test_region_forms_json_allows():
    think = (
        'a [{"label": "first", "bbox_2d": [1.5, 2, 3e1, 4.25]},\n {"bbox_2d":[0,0,1,1],"label":"sec\\"ond {x}"}]'
        ' and {"unrelated": 1} and {not json at all}'
    )
    parsed = parse_response(response(think=think))
    assert parsed.ok, parsed.error
    assert parsed.boxes == ((1.5, 2.0, 30.0, 4.25), (0.0, 0.0, 1.0, 1.0))
    assert parsed.region_labels == ("first", 'sec"ond {x}')


def test_label_mentioning_bbox_2d_is_fine():
    parsed = parse_response(response(think=region((1, 1, 5, 5), "the bbox_2d is the hand")))
    assert parsed.ok and parsed.region_labels == ("the bbox_2d is the hand",)


def test_negative_and_out_of_frame_boxes_are_kept_without_a_frame():
    parsed = parse_response(response(think=region((-20, -10, 5000, 40))))
    assert parsed.ok and parsed.boxes == ((-20.0, -10.0, 5000.0, 40.0),)


def test_frame_clips_boxes_and_keeps_their_places():
    text = response(think=region((-20, -10, 50, 40)) + region((700, 10, 900, 30)) + region((1, 1, 2, 2)))
    parsed = parse_response(text, frame=(640, 480))
    assert parsed.boxes == ((0.0, 0.0, 50.0, 40.0), (640, 10.0, 640, 30.0), (1.0, 1.0, 2.0, 2.0))
    assert len(parsed.region_labels) == 3


@pytest.mark.parametrize(
    "tags, expected",
    [
        ("", ()),
        ("   ", ()),
        ("Texture errors", ("Texture errors",)),
        (" texture ERRORS ,  other anomalies ", ("Texture errors", "Other anomalies")),
        ('["Perspective errors", " unknown objects"]', ("Perspective errors", "Unknown objects")),
        ("[]", ()),
        (", ".join(FAKEXPLAIN_TAGS), FAKEXPLAIN_TAGS),
        ("Artistic style", ("Artistic styles",)),  # 002 App. B's own singular spelling
    ],
)
def test_tags(tags, expected):
    parsed = parse_response(response(tags=tags))
    assert parsed.ok, parsed.error
    assert parsed.tags == expected


@pytest.mark.parametrize(
    "tags, why",
    [
        ("Texture errors, Blurry", "unknown tag 'Blurry'"),
        ("Texture errors,", "unknown tag ''"),
        ('["Texture errors", 3]', "strings only"),
        ('["Texture errors"', "JSON list"),
    ],
)
def test_bad_tags_make_the_response_unparsable(tags, why):
    parsed = parse_response(response(tags=tags))
    assert not parsed.ok and why in parsed.error


def test_non_string_response():
    assert not parse_response(None).ok  # type: ignore[arg-type]
    assert not parse_response(b"<think></think>").ok  # type: ignore[arg-type]


def test_parsed_response_is_frozen():
    parsed = parse_response(FAKE)
    with pytest.raises(AttributeError):
        parsed.ok = False  # type: ignore[misc]


@settings(max_examples=2000, deadline=None)
@given(st.text())
def test_any_text_parses_without_raising(text):
    parsed = parse_response(text)
    assert parsed.ok == (parsed.error is None)


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('{}[]",:0123456789.-eE bbox_2dlabel<>/thinkgvrdcaf')), max_size=120)
)
def test_structured_noise_inside_a_valid_layout(think):
    parsed = parse_response(response(think=think), frame=(50, 50))
    assert parsed.ok == (parsed.error is None)
    if parsed.ok:
        assert len(parsed.boxes) == len(parsed.region_labels)
        assert all(0 <= v <= 50 for box in parsed.boxes for v in box)
