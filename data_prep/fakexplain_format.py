"""The FakeXplain output contract: tags, generator families, and the rendered response.

A response is ``<think>...</think>``, ``<tag>...</tag>``, ``<verdict>...</verdict>``, each once, in
that order, separated by newlines (002 §4.1: regions in <think>, tags in <tag>, verdict in
<verdict>). Regions are embedded in the reasoning in one of three syntaxes (``region_syntax``):
``json``, Qwen2.5-VL grounding objects ``{"bbox_2d": [x1, y1, x2, y2], "label": "<description>"}``
in pixels of the model frame (data_prep/model_frame.py); or ``tokens``, ms-swift's grounding
placeholders ``<ref-object><bbox>`` that its template fills from the row's ``objects`` (the
authors' data); or ``internvl``, InternVL's grounding ``<ref>description</ref><box>[[x1, y1, x2, y2]]</box>``
in 0-1000 units of the image (``norm1000_box``; ms-swift 4.6 swift/template/templates/internvl.py
and base.py ``normalize_bbox``). Tags are a comma-separated list of the six tags of 002 App. B. The verdict is
``real`` or ``fake``. The reward parser (rewards/fakexplain_parser.py) reads the same contract.

The ground truth for GRPO is ``{"label": "real"|"fake", "boxes": [[x1, y1, x2, y2], ...]}`` in the
same frame, as a JSON string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from data_prep.conf_data import load_yaml
from rewards.tags import tag_key

__all__ = [
    "Vocabulary",
    "vocabulary",
    "normalize_name",
    "render_region",
    "render_internvl_region",
    "norm1000_box",
    "render_response",
    "render_verdict",
    "REGION_PLACEHOLDER",
    "REGION_SYNTAXES",
    "ground_truth_json",
]

REGION_SYNTAXES = ("json", "tokens", "internvl")
# InternVL's box units: 0-1000 of the original image, whatever its size (ms-swift norm_bbox 'norm1000').
INTERNVL_NORM = 1000
# ms-swift's grounding placeholders: its template replaces them, in order, with objects.ref[i] and
# objects.bbox[i] rescaled to the model frame (swift/template/base.py _pre_tokenize).
REGION_PLACEHOLDER = "<ref-object><bbox>"


def normalize_name(name: str) -> str:
    """Lower-case and drop spaces, dots, dashes and underscores: 'SD 1.5' == 'sd-1_5' == 'SD15'."""
    return re.sub(r"[\s._\-]+", "", name.strip().lower())


@dataclass(frozen=True)
class Vocabulary:
    tags: tuple[str, ...]
    tag_lookup: dict[str, str]  # rewards.tags.tag_key(spelling) -> canonical tag
    generator_lookup: dict[str, tuple[str, str]]  # normalized spelling -> (canonical name, family)
    families: tuple[str, ...]
    wording: dict[str, str]

    def canonical_tag(self, tag: str) -> str | None:
        """The canonical tag of a spelling or synonym (case, spacing and singular/plural ignored)."""
        return self.tag_lookup.get(tag_key(tag))

    def generator(self, name: str | None) -> tuple[str | None, str | None]:
        """(canonical generator name, family); an unknown name is kept as given with family None."""
        if name is None or not str(name).strip():
            return None, None
        found = self.generator_lookup.get(normalize_name(str(name)))
        if found is None:
            return str(name).strip(), None
        return found


def _build_vocabulary(raw: dict[str, Any], source: str) -> Vocabulary:
    try:
        tag_entries = raw["tags"]
        family_entries = raw["families"]
        wording = dict(raw["response"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"{source}: missing section {error}; expected tags, families, response") from None
    tags: list[str] = []
    tag_lookup: dict[str, str] = {}
    for entry in tag_entries:
        name = entry["name"]
        tags.append(name)
        for spelling in [name, *entry.get("aliases", [])]:
            key = tag_key(str(spelling))
            if tag_lookup.get(key, name) != name:
                raise ValueError(f"{source}: tag synonym {spelling!r} is listed under two tags")
            tag_lookup[key] = name
    generator_lookup: dict[str, tuple[str, str]] = {}
    for family, generators in family_entries.items():
        for entry in generators:
            name = entry["name"]
            for spelling in [name, *entry.get("aliases", [])]:
                key = normalize_name(str(spelling))
                if key in generator_lookup and generator_lookup[key] != (name, family):
                    raise ValueError(f"{source}: generator spelling {spelling!r} is listed twice")
                generator_lookup[key] = (name, family)
    for key in ("fake_intro", "fake_regions_lead", "fake_no_regions", "real"):
        if not str(wording.get(key, "")).strip():
            raise ValueError(f"{source}: response.{key} is missing or empty")
    return Vocabulary(
        tags=tuple(tags),
        tag_lookup=tag_lookup,
        generator_lookup=generator_lookup,
        families=tuple(family_entries),
        wording=wording,
    )


@lru_cache(maxsize=8)
def vocabulary(path: str) -> Vocabulary:
    """The tags, generators and wording of ``conf/data_prep/<path>`` (or a path); the FakeXplained
    source's default is ``fakexplain.yaml``."""
    return _build_vocabulary(load_yaml(path), path)


def render_region(box: Sequence[int], description: str) -> str:
    """One region as Qwen2.5-VL writes grounding: ``{"bbox_2d": [x1, y1, x2, y2], "label": "..."}``."""
    return json.dumps({"bbox_2d": [int(v) for v in box], "label": description}, ensure_ascii=False)


def norm1000_box(box: Sequence[float], size: tuple[int, int]) -> list[int]:
    """``[x1, y1, x2, y2]`` in original-image pixels -> InternVL's 0-1000 units, exactly as ms-swift's
    template writes them: ``int(round(v / side * 1000))`` per coordinate (swift/template/base.py
    ``normalize_bbox`` with ``norm_bbox = 'norm1000'``), so SFT targets equal ms-swift's own. Raises
    ValueError when a box collapses to zero width or height in those units."""
    width, height = size
    x1, y1, x2, y2 = (float(v) for v in box)
    mapped = [
        int(round(x1 / width * INTERNVL_NORM)),
        int(round(y1 / height * INTERNVL_NORM)),
        int(round(x2 / width * INTERNVL_NORM)),
        int(round(y2 / height * INTERNVL_NORM)),
    ]
    if mapped[2] <= mapped[0] or mapped[3] <= mapped[1]:
        raise ValueError(f"box {list(box)} of a {width}x{height} image collapses to {mapped} in 0-1000 units")
    return mapped


def render_internvl_region(box: Sequence[int], description: str) -> str:
    """One region as InternVL writes grounding (ms-swift's internvl2_5 template: ``<ref>{ref}</ref>``
    then ``f'<box>[{bbox}]</box>'`` of the int list): ``<ref>d</ref><box>[[x1, y1, x2, y2]]</box>``."""
    return f"<ref>{description}</ref><box>[{[int(v) for v in box]}]</box>"


def render_response(
    label: str,
    regions: Iterable[tuple[Sequence[int], str]] | None,
    tags: Iterable[str],
    wording: dict[str, str],
    region_syntax: str = "json",
) -> str:
    """The assistant turn for one image (structure fixed across templates, 002 App. A.1).

    ``region_syntax="tokens"`` writes one ``<ref-object><bbox>`` placeholder per region, in order;
    the row's ``objects`` must then carry the regions in the same order. ``regions=None``: the run
    has no region annotations (002 §5.3 no-bbox): a fake's reasoning says only ``fake_intro``,
    neither regions nor the claim that none stands out.
    """
    annotated = regions is not None
    regions = list(regions or ())
    if region_syntax not in REGION_SYNTAXES:
        raise ValueError(f"region_syntax must be one of {REGION_SYNTAXES}, got {region_syntax!r}")
    if label == "real":
        think = wording["real"]
    elif label == "fake":
        if not annotated:
            think = wording["fake_intro"]
        elif regions:
            if region_syntax == "tokens":
                rendered = ", ".join(REGION_PLACEHOLDER for _ in regions)
            elif region_syntax == "internvl":
                rendered = ", ".join(render_internvl_region(box, text) for box, text in regions)
            else:
                rendered = ", ".join(render_region(box, text) for box, text in regions)
            think = f"{wording['fake_intro']} {wording['fake_regions_lead']} {rendered}."
        else:
            think = f"{wording['fake_intro']} {wording['fake_no_regions']}"
    else:
        raise ValueError(f"label must be 'real' or 'fake', got {label!r}")
    return f"<think>{think}</think>\n<tag>{', '.join(tags)}</tag>\n<verdict>{label}</verdict>"


def render_verdict(label: str) -> str:
    """The assistant turn of a label-only run (002 §5.3 label-only): the verdict block alone."""
    if label not in ("real", "fake"):
        raise ValueError(f"label must be 'real' or 'fake', got {label!r}")
    return f"<verdict>{label}</verdict>"


def ground_truth_json(label: str, boxes: Iterable[Sequence[int]] | None, *, formatted: bool = True) -> str:
    """The GRPO ground truth, as the rewards issue defines it, serialized as JSON.

    ``boxes=None``: the run has no box annotations (002 §5.3 no-bbox, label-only); the ground truth
    says so (``"grounding": false``) and the reward leaves its grounding term out.
    ``formatted=False``: the run's answers are the verdict alone (label-only), not the reward's full
    format; the ground truth says so (``"format": false``) and the reward leaves its format term out."""
    truth: dict[str, object] = {"label": label}
    if boxes is None:
        truth.update(boxes=[], grounding=False)
    else:
        truth["boxes"] = [[int(v) for v in box] for box in boxes]
    if not formatted:
        truth["format"] = False
    return json.dumps(truth)
