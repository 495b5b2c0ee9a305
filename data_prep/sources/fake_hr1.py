"""Fake-HR1 (seed 001): GenImage / FakeClue json -> ms-swift SFT jsonl, ms-swift GRPO jsonl, verl parquet.

Input records (a JSON array or jsonl; the authors' cleaned files ``train_cleaned_0915.json`` /
``train_clean_0916.json`` are not public, seeds.md §1.2): FakeClue's LLaVA shape (seeds.md §2.3)
``{"image": path, "label": 0|1, "cate": ..., "conversations": [{"from": "human", "value":
"<image>..."}, {"from": "gpt", "value": "..."}]}`` or ms-swift's ``{"messages": [...], "images":
[...], "label": ...}``. Labels: FakeClue uses 0 = fake, 1 = real (seeds.md §2.3, FakeVLM's
process_data.py), the default ``label_values``; words real/fake/generated always work. Give your
own ``label_values`` for a file with another polarity.

The system prompt is NOT written into SFT rows: the recipe passes the seed's ``--system``
(001 README). Responses follow Fake-HR1's hybrid format (001 README system prompt):
``response_style="think"`` -> ``<think>\\n{source answer}\\n</think>\\n\\n{real|fake}``,
``"no_think"`` -> ``<think>\\n\\n</think>\\n\\n{real|fake}``, ``"keep"`` -> the source answer
verbatim (already in that format, as the authors' cleaned files presumably are).

GRPO rows carry ``ground_truth`` / ``solution`` = ``"real"`` or ``"fake"`` (verl geo3k convention,
seeds.md §2.2), and the ``system`` option (the seed's prompt) when given, since a verl prompt
has no ``--system``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data_prep.eval_manifest import DEFAULT_QUERY
from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, require_files
from data_prep.sources.common import (
    checked_images,
    ensure_image_tags,
    sharegpt_to_messages,
    word_label,
)

__all__ = ["OUTPUTS", "Options", "prepare", "convert", "THINK_TEMPLATE", "NO_THINK_TEMPLATE"]

OUTPUTS = ("sft.jsonl", "grpo.jsonl", "grpo.parquet")
# 001 README system prompt: think "<think>\n[Your reasoning here]\n</think>\n\nreal or fake",
# no-think "<think>\n\n</think>\n\nreal or fake".
THINK_TEMPLATE = "<think>\n{reasoning}\n</think>\n\n{label}"
NO_THINK_TEMPLATE = "<think>\n\n</think>\n\n{label}"


def _fakeclue_polarity() -> dict[str, str]:
    return {"0": "fake", "1": "real"}  # seeds.md §2.3: FakeClue label 0 = fake, 1 = real


@dataclass(frozen=True)
class Options:
    image_root: str | None = None
    verify_images: bool = True
    label_field: str = "label"
    label_values: dict = field(default_factory=_fakeclue_polarity)
    response_style: Literal["think", "no_think", "keep"] = "think"
    system: str | None = None  # for GRPO prompts only
    default_query: str = DEFAULT_QUERY
    data_source: str = "fake_hr1"
    ability: str = "aigi_detection"


def parquet_schema() -> Any:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    extra = pa.struct(
        [("index", pa.int64()), ("id", pa.string()), ("label", pa.string()), ("category", pa.string()),
         ("image", pa.string())]
    )  # fmt: skip
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("images", pa.list_(pa.struct([("image", pa.string())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra),
        ]
    )


def prepare(inputs: list[Path], options: Options) -> Prepared:
    files = require_files(inputs, "fake_hr1", "GenImage / FakeClue json files")
    return Prepared(records=iter_files(files), parquet_schemas={"grpo.parquet": parquet_schema()})


def _conversation(obj: dict[str, Any], location: str) -> list[dict[str, str]]:
    if "conversations" in obj:
        return sharegpt_to_messages(obj["conversations"], location)
    if isinstance(obj.get("messages"), list):
        return sharegpt_to_messages(obj["messages"], location)
    return []


def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    label = word_label(obj.get(options.label_field), location, options.label_values)
    images = checked_images(obj.get("images", obj.get("image")), record.base_dir, options.image_root,
                            options.verify_images, location)  # fmt: skip
    if len(images) != 1:
        raise RecordRejected("media_mismatch", f"{location}: expected one image, got {len(images)}")
    turns = [m for m in _conversation(obj, location) if m["role"] != "system"]
    question = next((m["content"] for m in turns if m["role"] == "user"), None)
    answer = next((m["content"] for m in reversed(turns) if m["role"] == "assistant"), None)
    if question is None or not question.replace("<image>", "").strip():
        question = "<image>" + options.default_query
    user = [{"role": "user", "content": question}]
    ensure_image_tags(user, 1, True, location)

    if options.response_style == "no_think":
        response = NO_THINK_TEMPLATE.format(label=label)
    elif answer is None or not answer.strip():
        raise RecordRejected(
            "empty_response", f"{location}: no assistant answer (use response_style=no_think)"
        )
    elif options.response_style == "keep" or answer.lstrip().startswith("<think>"):
        response = answer
    else:
        response = THINK_TEMPLATE.format(reasoning=answer.strip(), label=label)

    record_id = str(obj.get("id") or images[0])
    prompt = ([{"role": "system", "content": options.system}] if options.system else []) + user
    extra_info = {"index": record.ordinal, "id": record_id, "label": label, "category": obj.get("cate"),
                  "image": images[0]}  # fmt: skip
    rows = {
        "sft.jsonl": [{"messages": [*user, {"role": "assistant", "content": response}], "images": images}],
        "grpo.jsonl": [
            {
                "messages": prompt,
                "images": images,
                "solution": label,
                "data_source": options.data_source,
                "extra_info": extra_info,
            }
        ],  # fmt: skip
        "grpo.parquet": [
            {
                "data_source": options.data_source,
                "prompt": prompt,
                "images": [{"image": images[0]}],
                "ability": options.ability,
                "reward_model": {"style": "rule", "ground_truth": label},
                "extra_info": extra_info,
            }
        ],
    }
    return Converted(record_id=record_id, label=label, rows=rows)
