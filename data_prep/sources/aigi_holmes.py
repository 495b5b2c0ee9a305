"""AIGI-Holmes (seed 000) SFT and DPO jsonl -> the pinned ms-swift 4.6 ``sft.jsonl`` / ``dpo.jsonl``.

The authors trained with ms-swift 2.6.1 (seeds.md §1.1), whose rows are
``{"system"?, "query", "response", "history"?: [[q, r], ...], "images": [...]}`` and, for DPO,
``"rejected_response"`` (seeds.md §2.1). ms-swift 4.6 reads ``messages`` plus
``rejected_response`` (swift/dataset/preprocessor/core.py). Rows already in ``messages`` form are
checked and passed through. Each record goes to ``dpo.jsonl`` when it has a rejected response,
else to ``sft.jsonl``; pass the SFT and DPO files as separate ``--input`` s or together.

Images: relative paths resolve against ``image_root`` or the jsonl's folder (the Hugging Face
dataset's recommended layout is ``dataset/{0_real,1_fake}/`` next to ``dataset/*.jsonl``).
A query without ``<image>`` gets one tag per image prepended, as ms-swift 2.x did for LLaVA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, require_files
from data_prep.sources.common import checked_images, ensure_image_tags

__all__ = ["OUTPUTS", "Options", "prepare", "convert"]

OUTPUTS = ("sft.jsonl", "dpo.jsonl")


@dataclass(frozen=True)
class Options:
    image_root: str | None = None
    verify_images: bool = True
    prepend_image_tag: bool = True
    system: str | None = None  # replaces the records' system prompt when set


def prepare(inputs: list[Path], options: Options) -> Prepared:
    files = require_files(inputs, "aigi_holmes", "AIGI-Holmes SFT/DPO jsonl files")
    return Prepared(records=iter_files(files))


def _text(value: Any, what: str, location: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(
            "empty_response" if "response" in what else "missing_field", f"{location}: '{what}' is empty"
        )
    return value


def _messages_from_query(obj: dict[str, Any], location: str) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    if isinstance(obj.get("system"), str) and obj["system"].strip():
        messages.append({"role": "system", "content": obj["system"]})
    history = obj.get("history") or []
    if not isinstance(history, list):
        raise RecordRejected("bad_record", f"{location}: 'history' must be a list of [query, response] pairs")
    for pair in history:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RecordRejected(
                "bad_record", f"{location}: history entry {pair!r} is not a [query, response] pair"
            )
        messages.append({"role": "user", "content": _text(pair[0], "history query", location)})
        messages.append({"role": "assistant", "content": _text(pair[1], "history response", location)})
    messages.append({"role": "user", "content": _text(obj.get("query"), "query", location)})
    messages.append({"role": "assistant", "content": _text(obj.get("response"), "response", location)})
    return messages


def _messages_passthrough(obj: dict[str, Any], location: str) -> list[dict[str, str]]:
    raw = obj["messages"]
    if not isinstance(raw, list) or not raw:
        raise RecordRejected("bad_record", f"{location}: 'messages' must be a non-empty list")
    messages = []
    for message in raw:
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise RecordRejected(
                "bad_record", f"{location}: message {message!r} needs role system|user|assistant"
            )
        if not isinstance(message.get("content"), str):
            raise RecordRejected("bad_record", f"{location}: message content must be a string")
        messages.append({"role": message["role"], "content": message["content"]})
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise RecordRejected(
            "empty_response", f"{location}: the last message must be a non-empty assistant turn"
        )
    return messages


def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    messages = (
        _messages_passthrough(obj, location) if "messages" in obj else _messages_from_query(obj, location)
    )
    if options.system is not None:
        messages = [m for m in messages if m["role"] != "system"]
        if options.system:
            messages.insert(0, {"role": "system", "content": options.system})
    images = checked_images(obj.get("images", obj.get("image")), record.base_dir, options.image_root,
                            options.verify_images, location)  # fmt: skip
    ensure_image_tags(messages, len(images), options.prepend_image_tag, location)
    row: dict[str, Any] = {"messages": messages, "images": images}
    rejected = obj.get("rejected_response")
    record_id = str(obj.get("id", record.ordinal))
    if rejected is None:
        return Converted(record_id=record_id, label=None, rows={"sft.jsonl": [row]})
    rejected = _text(rejected, "rejected_response", location)
    if rejected.strip() == messages[-1]["content"].strip():
        raise RecordRejected("dpo_pair_identical", f"{location}: rejected_response equals the response")
    row["rejected_response"] = rejected
    return Converted(record_id=record_id, label=None, rows={"dpo.jsonl": [row]})
