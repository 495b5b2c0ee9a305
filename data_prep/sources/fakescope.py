"""FakeScope (seed 003) instruction data -> ms-swift SFT jsonl.

FakeInstruct (about 2M instructions over the 47,594 FakeChain images, seeds.md §1.4) is not
public, so this is the documented contract; these record shapes are accepted:

- question/answer pairs per image: ``{"image": path, "qa": [{"question": ..., "answer": ...}, ...]}``;
- LLaVA conversations, the backbones' own training format (LLaVA-1.5, mPLUG-Owl2):
  ``{"image": path, "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", ...}]}``,
  and every other row shape ms-swift accepts (``messages``, ``query`` / ``response``);
- FakeChain triples: ``{"image": path, "auth": "real"|"fake", "reasoning": ...}``, turned into one
  pair with 003's question "What is the authenticity of this image?" and the answer
  "This image is {auth}. {reasoning}" (003 Eq. 2 prompt).

Image placeholders of both backbones (LLaVA's ``<image>``, mPLUG-Owl2's ``<|image|>``, with the
newline LLaVA puts after it) are stripped from the text and one ``<image>`` is put at the start of
the first question, as LLaVA instruction tuning does. A record's own system turn is kept (the
``system`` option replaces it). By default all pairs of an image form one multi-turn
conversation; ``split_pairs=true`` writes one row per pair.

003 Table VIII trains on parts of FakeInstruct: ``only: absolute`` keeps the absolute authenticity
judgements, ``only: contextual`` the other instructions (reasoning, trace evidence, discussions).
The split is the data's own: a pair's ``type`` (``absolute`` or ``contextual``, on a ``qa`` pair)
or its record's ``type`` says which; 003 publishes no rule to tell them from the text, so a record
without one is rejected under ``only`` (reason ``missing_field``), and one with no pair of the kept
type is rejected as ``no_kept_pairs``; the pairs left out of a kept record are counted in
stats.json (``pairs_left_out:<type>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, require_files
from data_prep.sources import data_source
from data_prep.sources.common import (
    WORD_LABELS,
    checked_images,
    ensure_image_tags,
    image_entries,
    image_search_dirs,
    record_images,
    strip_image_tags,
    swift_messages,
    verdict_from_answer,
    word_label,
)

__all__ = ["OUTPUTS", "Options", "prepare", "convert", "AUTHENTICITY_QUESTION"]

OUTPUTS = ("sft.jsonl",)
AUTHENTICITY_QUESTION = "What is the authenticity of this image?"  # 003 Eq. 2 prompt


@dataclass(frozen=True)
class Options:
    image_root: str | None = None
    verify_images: bool = True
    split_pairs: bool = False
    system: str | None = None
    # 003 Table VIII "only absolute" / "only contextual": the instructions of one type (None: all)
    only: Literal["absolute", "contextual"] | None = None


PAIR_TYPES = ("absolute", "contextual")


def prepare(inputs: list[Path], options: Options) -> Prepared:
    what = "FakeScope instruction json/jsonl files (qa pairs, LLaVA conversations or FakeChain triples)"
    files = require_files(inputs, "fakescope", what)
    return Prepared(records=iter_files(files), expected=what)


def _qa_pairs(raw: Any, location: str) -> list[tuple[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise RecordRejected(
            "bad_record", f"{location}: 'qa' must be a non-empty list of question/answer pairs"
        )
    pairs = []
    for position, pair in enumerate(raw):
        if not isinstance(pair, dict):
            raise RecordRejected("bad_record", f"{location}: qa[{position}] is not an object")
        question, answer = pair.get("question"), pair.get("answer")
        if not isinstance(question, str) or not strip_image_tags(question):
            raise RecordRejected("missing_field", f"{location}: qa[{position}].question is empty")
        if not isinstance(answer, str) or not answer.strip():
            raise RecordRejected("empty_response", f"{location}: qa[{position}].answer is empty")
        pairs.append((strip_image_tags(question), answer))
    return pairs


def _pair_types(obj: dict[str, Any], count: int, location: str) -> list[str]:
    """Each pair's instruction type: the qa pair's own ``type``, else the record's."""
    own = obj.get("type")
    listed = obj.get("qa") if isinstance(obj.get("qa"), list) else [{}] * count
    types = []
    for position, pair in enumerate(listed):
        value = pair.get("type", own) if isinstance(pair, dict) else own
        if value is None:
            raise RecordRejected(
                "missing_field",
                f"{location}: option only needs each instruction's type ('type': absolute or contextual, "
                f"on the record or on qa[{position}])",
            )
        if value not in PAIR_TYPES:
            raise RecordRejected(
                "bad_record", f"{location}: type {value!r} is not one of {', '.join(PAIR_TYPES)}"
            )
        types.append(str(value))
    return types


def _conversation(obj: dict[str, Any], location: str) -> tuple[str | None, list[tuple[str, str]]]:
    """(the record's own system prompt, its question/answer pairs)."""
    if "qa" in obj:
        return None, _qa_pairs(obj["qa"], location)
    if "auth" in obj:
        label = word_label(obj["auth"], location)
        reasoning = obj.get("reasoning")
        if not isinstance(reasoning, str) or not reasoning.strip():
            raise RecordRejected("empty_response", f"{location}: 'reasoning' is empty")
        return None, [(AUTHENTICITY_QUESTION, f"This image is {label}. {reasoning.strip()}")]
    try:
        messages = swift_messages(obj, location)
    except RecordRejected as rejected:
        if rejected.reason != "bad_record" or "no conversation" not in rejected.detail:
            raise
        raise RecordRejected(
            "bad_record", f"{location}: expected 'qa', 'conversations' (or another ms-swift row shape) or 'auth' + "
            f"'reasoning'; the record has keys {sorted(map(str, obj))}"
        ) from None  # fmt: skip
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) % 2 or any(
        t["role"] != ("user" if i % 2 == 0 else "assistant") for i, t in enumerate(turns)
    ):
        raise RecordRejected(
            "bad_record", f"{location}: the conversation must alternate human, gpt (user, assistant)"
        )
    for turn in turns[1::2]:
        if not turn["content"].strip():
            raise RecordRejected("empty_response", f"{location}: an answer is empty")
    for turn in turns[::2]:
        if not strip_image_tags(turn["content"]):
            raise RecordRejected("missing_field", f"{location}: a question is empty")
    return system, [(strip_image_tags(q["content"]), a["content"]) for q, a in zip(turns[::2], turns[1::2])]


@data_source("fakescope")
def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    search = image_search_dirs(options.image_root, record.base_dir)
    images = checked_images(
        image_entries(record_images(obj), location), search, options.verify_images, location
    )
    if len(images) != 1:
        raise RecordRejected("media_mismatch", f"{location}: expected one image, got {len(images)}")
    own_system, pairs = _conversation(obj, location)
    warnings = []
    if options.only is not None:
        types = _pair_types(obj, len(pairs), location)
        kept = [pair for pair, kind in zip(pairs, types) if kind == options.only]
        if not kept:
            raise RecordRejected(
                "no_kept_pairs", f"{location}: no {options.only} instruction (option only: {options.only})"
            )
        warnings = [f"pairs_left_out:{kind}" for kind in types if kind != options.only]
        label_pairs, pairs = pairs, kept
    else:
        label_pairs = pairs
    system_text = options.system if options.system is not None else own_system
    system = [{"role": "system", "content": system_text}] if system_text else []
    conversations = [pairs] if not options.split_pairs else [[pair] for pair in pairs]
    rows = []
    for conversation in conversations:
        messages = list(system)
        for question, answer in conversation:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        ensure_image_tags(messages, 1, True, location)
        rows.append({"messages": messages, "images": images})
    # FakeChain's auth, else the verdict the first answer ends with ("This image is fake.").
    label = WORD_LABELS.get(str(obj.get("auth", "")).strip().lower()) or verdict_from_answer(
        label_pairs[0][1]
    )
    return Converted(
        record_id=str(obj.get("id") or images[0]), label=label, rows={"sft.jsonl": rows}, warnings=warnings
    )
