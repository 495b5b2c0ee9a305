"""FakeScope (seed 003) instruction data -> ms-swift SFT jsonl.

FakeInstruct (about 2M instructions over the 47,594 FakeChain images, seeds.md §1.4) is not
public, so this is the documented contract; three record shapes are accepted:

- question/answer pairs per image: ``{"image": path, "qa": [{"question": ..., "answer": ...}, ...]}``;
- LLaVA conversations: ``{"image": path, "conversations": [{"from": "human", ...}, {"from": "gpt", ...}, ...]}``;
- FakeChain triples: ``{"image": path, "auth": "real"|"fake", "reasoning": ...}``, turned into one
  pair with 003's question "What is the authenticity of this image?" and the answer
  "This image is {auth}. {reasoning}" (003 Eq. 2 prompt).

By default all pairs of an image form one multi-turn conversation (the image tag in the first
user turn, as LLaVA instruction tuning does); ``split_pairs=true`` writes one row per pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, require_files
from data_prep.sources.common import (
    checked_images,
    ensure_image_tags,
    sharegpt_to_messages,
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


def prepare(inputs: list[Path], options: Options) -> Prepared:
    files = require_files(inputs, "fakescope", "FakeScope instruction json/jsonl files")
    return Prepared(records=iter_files(files))


def _pairs(obj: dict[str, Any], location: str) -> list[tuple[str, str]]:
    if "qa" in obj:
        raw = obj["qa"]
        if not isinstance(raw, list) or not raw:
            raise RecordRejected(
                "bad_record", f"{location}: 'qa' must be a non-empty list of question/answer pairs"
            )
        pairs = []
        for position, pair in enumerate(raw):
            if not isinstance(pair, dict):
                raise RecordRejected("bad_record", f"{location}: qa[{position}] is not an object")
            question, answer = pair.get("question"), pair.get("answer")
            if not isinstance(question, str) or not question.strip():
                raise RecordRejected("missing_field", f"{location}: qa[{position}].question is empty")
            if not isinstance(answer, str) or not answer.strip():
                raise RecordRejected("empty_response", f"{location}: qa[{position}].answer is empty")
            pairs.append((question.replace("<image>", "").strip(), answer))
        return pairs
    if "conversations" in obj:
        turns = [m for m in sharegpt_to_messages(obj["conversations"], location) if m["role"] != "system"]
        if len(turns) % 2 or any(
            t["role"] != ("user" if i % 2 == 0 else "assistant") for i, t in enumerate(turns)
        ):
            raise RecordRejected("bad_record", f"{location}: conversations must alternate human, gpt")
        for turn in turns[1::2]:
            if not turn["content"].strip():
                raise RecordRejected("empty_response", f"{location}: an answer is empty")
        return [
            (q["content"].replace("<image>", "").strip(), a["content"])
            for q, a in zip(turns[::2], turns[1::2])
        ]
    if "auth" in obj:
        label = word_label(obj["auth"], location)
        reasoning = obj.get("reasoning")
        if not isinstance(reasoning, str) or not reasoning.strip():
            raise RecordRejected("empty_response", f"{location}: 'reasoning' is empty")
        return [(AUTHENTICITY_QUESTION, f"This image is {label}. {reasoning.strip()}")]
    raise RecordRejected("bad_record", f"{location}: expected 'qa', 'conversations' or 'auth' + 'reasoning'")


def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    images = checked_images(obj.get("images", obj.get("image")), record.base_dir, options.image_root,
                            options.verify_images, location)  # fmt: skip
    if len(images) != 1:
        raise RecordRejected("media_mismatch", f"{location}: expected one image, got {len(images)}")
    pairs = _pairs(obj, location)
    system = [{"role": "system", "content": options.system}] if options.system else []
    conversations = [pairs] if not options.split_pairs else [[pair] for pair in pairs]
    rows = []
    for conversation in conversations:
        messages = list(system)
        for question, answer in conversation:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        ensure_image_tags(messages, 1, True, location)
        rows.append({"messages": messages, "images": images})
    return Converted(record_id=str(obj.get("id") or images[0]), label=None, rows={"sft.jsonl": rows})
