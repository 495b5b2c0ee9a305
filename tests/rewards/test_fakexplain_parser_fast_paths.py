"""The parser's one-regex fast paths read exactly what its general reading reads.

``_swift_regions`` (ms-swift's token spelling) and ``_dumps_regions`` (json.dumps' spelling) only
speed the reward up: on every text, with them or without them, ``parse_response_fields`` and
``read_response_fields`` must return the same thing (regions, labels, errors). The texts mix the
exact spellings with every near miss the fast paths must hand over: spaces, signs, leading zeros,
floats, 16-digit numbers, empty or odd labels, stray tokens, braces and bbox_2d in labels,
inverted boxes, other keys.
"""

from __future__ import annotations

import json
import random

import pytest

from rewards import fakexplain_parser
from rewards.fakexplain_parser import parse_response_fields, read_response_fields

REF_START, REF_END, BOX_START, BOX_END = (
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
)
NUMBERS = ["0", "7", "12", "640", "-3", "007", "1.5", "9" * 15, "9" * 16, "+4", " 5", "١٢"]
LABELS = [
    "a paw",
    "  ",
    "",
    "six fingers",
    "x{y",
    "bbox_2d",
    "a<b",
    "a <|im_end|>",
    'say "hi"',
    "tab\there",
    "é",
]


def _coords(rng):
    if rng.random() < 0.6:
        x1, y1 = rng.randint(0, 500), rng.randint(0, 500)
        x2, y2 = x1 + rng.randint(-5, 200), y1 + rng.randint(-5, 200)
        return [str(v) for v in (x1, y1, x2, y2)]
    return [rng.choice(NUMBERS) for _ in range(4)]


def _token_region(rng):
    x1, y1, x2, y2 = _coords(rng)
    label = rng.choice(LABELS)
    gap = rng.choice(["", "", " ", "\n", " x "])
    box = rng.choice([f"({x1},{y1}),({x2},{y2})", f"({x1}, {y1}), ({x2}, {y2})", f"[{x1}, {y1}, {x2}, {y2}]"])
    if rng.random() < 0.85:
        box = f"({x1},{y1}),({x2},{y2})"
    region = f"{REF_START}{label}{REF_END}{gap}{BOX_START}{box}{BOX_END}"
    if rng.random() < 0.05:  # a stray or missing token
        region = rng.choice([region.replace(REF_END, ""), region + BOX_END, BOX_START + region, "<|im_end|>"])
    return region


def _json_region(rng):
    x1, y1, x2, y2 = _coords(rng)
    label = rng.choice(LABELS)
    if rng.random() < 0.8:
        try:
            box = [json.loads(v) for v in (x1, y1, x2, y2)]
        except ValueError:
            box = [1, 2, 3, 4]
        obj = {"bbox_2d": box, "label": label}
        if rng.random() < 0.1:
            obj = {"label": label, "bbox_2d": box}
        if rng.random() < 0.05:
            obj["score"] = 1
        return json.dumps(
            obj, separators=rng.choice([(", ", ": "), (",", ":")]) if rng.random() < 0.1 else None
        )
    return rng.choice([
        f'{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "{label}"}}',
        f'{{ "bbox_2d": [{x1},{y1},{x2},{y2}], "label": "{label}" }}',
        f'{{"regions": [{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "{label}"}}]}}',
        f'{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "{label}"',
        "a {brace} here",
    ])  # fmt: skip


def texts(count=3000, seed=3):
    rng = random.Random(seed)
    for _ in range(count):
        make = rng.choice([_token_region, _json_region])
        regions = [make(rng) for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.1:
            regions.append(rng.choice([_token_region, _json_region])(rng))
        think = "".join(f"{rng.choice(['', 'Look: ', ' and '])}{region}" for region in regions)
        if rng.random() < 0.5:
            yield f"<think>{think}</think>\n<tag>Texture errors</tag>\n<verdict>fake</verdict>"
        else:
            yield f"<think>{think}<tag>Texture errors</tag></think><verdict>generated</verdict>" + rng.choice(
                ["", " ok"]
            )


def _readings(text):
    return (
        parse_response_fields(text),
        parse_response_fields(text, (320.0, 240.0)),
        read_response_fields(text),
    )


def _general_readings(monkeypatch, corpus):
    with monkeypatch.context() as patch:
        patch.setattr(fakexplain_parser, "_swift_regions", lambda think: None)
        patch.setattr(fakexplain_parser, "_dumps_regions", lambda think: None)
        return [_readings(text) for text in corpus]


def test_fast_paths_read_what_the_general_reading_reads(monkeypatch):
    corpus = list(texts())
    general = _general_readings(monkeypatch, corpus)
    fast_hits = 0
    for text, want in zip(corpus, general):
        assert _readings(text) == want, text
        think = text.split("<think>")[1].split("<tag>")[0].split("</think>")[0]
        fast_hits += bool(fakexplain_parser._swift_regions(think) or fakexplain_parser._dumps_regions(think))
    valid = sum(want[0][0] is None for want in general)
    assert fast_hits > 500 and valid > 500 and len(corpus) - valid > 500  # both paths, both outcomes


def _tokens_unchecked(think):
    # every regex match taken, without checking that each token belongs to one
    found = fakexplain_parser._SWIFT_REGION.findall(think)
    boxes = [(float(a), float(b), float(c), float(d)) for _, a, b, c, d in found]
    return (boxes, [label.strip() for label, *_ in found]) if found else None


def _json_unchecked(think):
    # every regex match taken, without checking that each "{" and "bbox_2d" lies in one
    found = fakexplain_parser._DUMPS_REGION.findall(think)
    boxes = [(float(a), float(b), float(c), float(d)) for a, b, c, d, _ in found]
    return (boxes, [label for *_, label in found]) if found else None


@pytest.mark.parametrize(
    "name, careless",
    [("_swift_regions", _tokens_unchecked), ("_dumps_regions", _json_unchecked)],
    ids=["tokens", "json"],
)
def test_the_comparison_catches_a_careless_fast_path(monkeypatch, name, careless):
    corpus = list(texts(count=1500))
    general = _general_readings(monkeypatch, corpus)
    monkeypatch.setattr(fakexplain_parser, name, careless)
    assert any(_readings(text) != want for text, want in zip(corpus, general))


def test_tag_blocks_read_once_give_the_same_tags_and_the_cache_stays_bounded():
    fakexplain_parser._TAG_BLOCKS.clear()
    for block in ("Texture Error; unknown objects", "Texture errors, Bogus tag", " ", '["Artistic styles"]'):
        first = fakexplain_parser._parse_tags(block)
        assert first == fakexplain_parser._read_tags(block) == fakexplain_parser._parse_tags(block)
    assert fakexplain_parser._parse_tags("Texture Error; unknown objects") == (
        "Texture errors",
        "Unknown objects",
    )
    assert "unknown tag 'Bogus tag'" in fakexplain_parser._parse_tags("Texture errors, Bogus tag")
    for index in range(fakexplain_parser._TAG_BLOCKS_MAX + 10):
        fakexplain_parser._parse_tags(
            f"Texture errors,{' ' * (index % 7)}Other anomalies{'.' * (index // 7)}"
        )
    assert 0 < len(fakexplain_parser._TAG_BLOCKS) <= fakexplain_parser._TAG_BLOCKS_MAX
    long_block = "Texture errors, " * 40
    assert fakexplain_parser._parse_tags(long_block) == ("Texture errors",) * 40
    assert long_block not in fakexplain_parser._TAG_BLOCKS  # long blocks are not kept
