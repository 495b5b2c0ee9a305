"""Helpers shared by the source modules: labels, image paths, image tags, conversation shapes.

``swift_messages`` reads a record in every row shape the pinned ms-swift 4.6 accepts itself
(swift/dataset/preprocessor/core.py: ``MessagesPreprocessor``, ``AlpacaPreprocessor``,
``ResponsePreprocessor``), so a file fed straight to ``swift sft`` by a paper's authors converts
without edits.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.image_check import image_size
from data_prep.model_frame import model_frame
from data_prep.records import RecordRejected

__all__ = [
    "WORD_LABELS",
    "word_label",
    "label_from_path",
    "verdict_from_answer",
    "image_search_dirs",
    "resolve_image",
    "checked_images",
    "image_entries",
    "record_images",
    "count_image_tags",
    "canonical_image_tags",
    "strip_image_tags",
    "ensure_image_tags",
    "swift_messages",
    "sharegpt_to_messages",
    "nonempty_str",
    "resizable_frame",
]

# Words only: 0/1 mean opposite things in different datasets (seeds.md §5.8).
WORD_LABELS = {"real": "real", "fake": "fake", "generated": "fake", "ai-generated": "fake"}
# Class folders of AIGI-Holmes (000 README dataset/{0_real,1_fake}, TestSet/<generator>/{0_real,1_fake}).
PATH_LABELS = {"0_real": "real", "1_fake": "fake"}


def word_label(value: Any, location: str, mapping: dict[str, str] | None = None) -> str:
    """Normalise a label to real/fake; ``mapping`` (string keys) is consulted first."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordRejected("missing_field", f"{location}: no label")
    key = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
    if mapping:
        lowered = {str(k).strip().lower(): v for k, v in mapping.items()}
        if key in lowered:
            return lowered[key]
    if isinstance(value, str) and key in WORD_LABELS:
        return WORD_LABELS[key]
    allowed = sorted(set(WORD_LABELS) | set(str(k) for k in (mapping or {})))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not mapping:
        raise RecordRejected(
            "unknown_label",
            f"{location}: label {value!r} is a number, and 0/1 mean opposite things in different datasets; "
            'map the numbers with the option label_values (FakeClue: {"0": "fake", "1": "real"})',
        )
    raise RecordRejected("unknown_label", f"{location}: label {value!r}; expected one of {allowed}")


def label_from_path(path: str) -> str | None:
    """real/fake from a ``0_real`` / ``1_fake`` folder in ``path`` (AIGI-Holmes keeps labels only there)."""
    found = {PATH_LABELS[part] for part in Path(path).parts if part in PATH_LABELS}
    return found.pop() if len(found) == 1 else None


_WORD = re.compile(r"[A-Za-z][A-Za-z-]*")


def verdict_from_answer(text: str) -> str | None:
    """The answer's final real/fake: the last word after ``</think>`` (Fake-HR1's hybrid format,
    001 README system prompt), else the last word of the answer; None if that is no verdict word."""
    tail = text.rsplit("</think>", 1)[1] if "</think>" in text else text
    words = _WORD.findall(tail)
    return WORD_LABELS.get(words[-1].lower()) if words else None


def nonempty_str(obj: dict[str, Any], key: str, location: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected("missing_field", f"{location}: '{key}' is missing or empty")
    return value


def image_search_dirs(image_root: str | None, base_dir: str, parents: int = 0) -> list[Path]:
    """Where relative image paths are looked up: ``image_root`` alone when set, else ``base_dir``
    and up to ``parents`` of its parent folders (the dataset root may sit above the file)."""
    if image_root:
        return [Path(image_root).expanduser().resolve()]
    base = Path(base_dir).resolve()
    return [base, *list(base.parents)[:parents]]


def resolve_image(value: str, search_dirs: Sequence[Path], location: str) -> Path:
    """An absolute path as is; a relative one in the first search folder that holds it."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    for folder in search_dirs:
        candidate = folder / path
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(folder) for folder in search_dirs)
    raise RecordRejected(
        "image_missing",
        f"{location}: image {value!r} is in none of the folders relative paths resolve against ({tried}); "
        "set the option image_root to the folder the paths are relative to",
    )


def image_entries(values: Any, location: str) -> list[str]:
    """A record's image paths as written (a string, a list of strings or of {"path": ...})."""
    if isinstance(values, str):
        values = [values]
    if values is None:
        values = []
    if not isinstance(values, list):
        raise RecordRejected("bad_record", f"{location}: 'images' must be a list of paths")
    entries = []
    for value in values:
        if isinstance(value, dict):  # ms-swift also accepts {"path": ...}
            value = value.get("path") or value.get("image")
        if not isinstance(value, str) or not value.strip():
            raise RecordRejected("bad_record", f"{location}: image entry {value!r} is not a path")
        entries.append(value.strip())
    return entries


def record_images(obj: dict[str, Any]) -> Any:
    """A record's image field: ``images`` or ``image`` (ms-swift renames either, any case)."""
    for key in ("images", "image"):
        if key in obj:
            return obj[key]
    lowered = {str(k).lower(): k for k in obj}
    for key in ("images", "image"):
        if key in lowered:
            return obj[lowered[key]]
    return None


def checked_images(values: Any, search_dirs: Sequence[Path], verify: bool, location: str) -> list[str]:
    """Absolute paths of a record's images, each checked to exist (and decode, with ``verify``)."""
    paths = []
    for value in image_entries(values, location):
        path = resolve_image(value, search_dirs, location)
        image_size(path, verify=verify)
        paths.append(str(path))
    return paths


# Image placeholders of the backbones: LLaVA and ms-swift write <image>, mPLUG-Owl2 <|image|>.
_PLACEHOLDER = re.compile(r"<\|image\|>|<image>", re.IGNORECASE)
_PLACEHOLDER_WITH_SPACE = re.compile(r"(?:<\|image\|>|<image>)[ \t]*\n?", re.IGNORECASE)


def canonical_image_tags(text: str) -> str:
    """Every image placeholder spelled ``<image>`` (ms-swift's tag)."""
    return _PLACEHOLDER.sub("<image>", text)


def strip_image_tags(text: str) -> str:
    """The text without image placeholders (and the newline LLaVA puts after ``<image>``)."""
    return _PLACEHOLDER_WITH_SPACE.sub("", text).strip()


def count_image_tags(messages: list[dict[str, Any]]) -> int:
    return sum(str(m.get("content", "")).count("<image>") for m in messages)


def ensure_image_tags(messages: list[dict[str, Any]], images: int, prepend: bool, location: str) -> None:
    """Make the ``<image>`` tags match the images: prepend them to the first user turn when there
    are none (ms-swift 2.x did this for LLaVA), otherwise the counts must agree."""
    tags = count_image_tags(messages)
    if tags == images:
        return
    if tags == 0 and prepend:
        for message in messages:
            if message["role"] == "user":
                message["content"] = "<image>" * images + message["content"]
                return
    raise RecordRejected("media_mismatch", f"{location}: {tags} <image> tag(s) for {images} image(s)")


# ms-swift 4.6's own key lists (swift/dataset/preprocessor/core.py).
_MESSAGE_KEYS = ("messages", "conversation", "conversations")
_ROLE_KEYS = ("role", "from")
_CONTENT_KEYS = ("content", "value")
_USER_ROLES = ("user", "human")
_ASSISTANT_ROLES = ("assistant", "gpt", "bot")
_SYSTEM_KEYS = ("system", "system_prompt")
_QUERY_KEYS = ("query", "prompt", "input", "instruction", "question", "problem")
_RESPONSE_KEYS = ("response", "answer", "output", "targets", "target", "answer_key", "answers", "solution",
                  "text", "completion", "content")  # fmt: skip
_ROLES = {"user": "user", "human": "user", "gpt": "assistant", "assistant": "assistant", "bot": "assistant",
          "system": "system"}  # fmt: skip


def _column(obj: dict[str, Any], names: Sequence[str]) -> str | None:
    """The record key ms-swift would read for ``names[0]``: the exact key first, else the one alias
    present (ms-swift matches column names case-insensitively and renames none when two compete)."""
    lowered = {str(k).lower(): k for k in obj}
    if names[0] in lowered:
        return lowered[names[0]]
    present = [lowered[name] for name in names[1:] if name in lowered]
    return present[0] if len(present) == 1 else None


def _text_or_none(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and value:  # ms-swift takes the first of several responses
        return value[0]
    return value


def _decode(value: Any) -> Any:
    """A conversation or history written as a string (ms-swift repairs these with json/literal_eval)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
    return value


def _system(obj: dict[str, Any]) -> str | None:
    key = _column(obj, _SYSTEM_KEYS)
    value = obj.get(key) if key else None
    return value if isinstance(value, str) and value.strip() else None


def _turns(raw: Any, system: str | None, location: str, key: str) -> list[dict[str, str]]:
    raw = _decode(raw)
    if not isinstance(raw, list) or not raw:
        raise RecordRejected("bad_record", f"{location}: '{key}' must be a non-empty list of turns")
    if not all(isinstance(turn, dict) for turn in raw):
        raise RecordRejected("bad_record", f"{location}: a turn of '{key}' is not an object")
    first = raw[0]
    if not any(k in first for k in (*_ROLE_KEYS, *_CONTENT_KEYS)):
        return _pairs(raw, system, location, key)
    messages = [] if system is None or _role(first) == "system" else [{"role": "system", "content": system}]
    for position, turn in enumerate(raw):
        role = _role(turn)
        content = next((turn[k] for k in _CONTENT_KEYS if k in turn), None)
        if role is None:
            given = next((turn[k] for k in _ROLE_KEYS if k in turn), None)
            raise RecordRejected(
                "bad_record",
                f"{location}: {key}[{position}] has role {given!r}; expected system, user|human or assistant|gpt|bot",
            )
        if not isinstance(content, str):
            raise RecordRejected(
                "bad_record",
                f"{location}: {key}[{position}] needs its text in 'content' or 'value' (a string)",
            )
        messages.append({"role": role, "content": content})
    return messages


def _role(turn: dict[str, Any]) -> str | None:
    given = next((turn[k] for k in _ROLE_KEYS if k in turn), None)
    return _ROLES.get(str(given).strip().lower()) if given is not None else None


def _pairs(raw: list[dict], system: str | None, location: str, key: str) -> list[dict[str, str]]:
    """ShareGPT pairs ``[{"human": q, "assistant": r}, ...]`` (ms-swift sharegpt_to_messages)."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    for position, pair in enumerate(raw):
        query = next((pair[k] for k in _USER_ROLES if k in pair), None)
        answer = next((pair[k] for k in _ASSISTANT_ROLES if k in pair), None)
        if not isinstance(query, str) or not isinstance(answer, str):
            raise RecordRejected(
                "bad_record",
                f"{location}: {key}[{position}] has neither role/content (from/value) keys nor a "
                "user|human and an assistant|gpt|bot text",
            )
        messages += [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
    return messages


def swift_messages(obj: dict[str, Any], location: str) -> list[dict[str, str]]:
    """A record's conversation as ms-swift 4.6 would read it, as ``[{"role", "content"}]``.

    Accepted, as ms-swift's AutoPreprocessor picks them: ``messages`` / ``conversation`` /
    ``conversations`` (turns with role|from and content|value, or ShareGPT pairs); Alpaca
    ``instruction`` + ``input`` + ``output``; ``query`` / ``response`` (or their aliases) with
    ``history`` ([[query, response], ...]); ``system`` / ``system_prompt``. The last turn is not
    checked here: the caller decides whether it needs an answer.
    """
    system = _system(obj)
    key = _column(obj, _MESSAGE_KEYS) or next((k for k in obj if str(k).lower() in _MESSAGE_KEYS), None)
    if key is not None:
        return _turns(obj[key], system, location, str(key))
    lowered = {str(k).lower(): k for k in obj}
    if "instruction" in lowered and "input" in lowered:  # Alpaca (ms-swift AlpacaPreprocessor)
        instruction, input_ = obj[lowered["instruction"]], obj[lowered["input"]]
        query = f"{instruction}\n{input_}" if instruction and input_ else (instruction or input_)
        response_key = lowered.get("output") or _column(obj, _RESPONSE_KEYS)
    else:
        query_key = _column(obj, _QUERY_KEYS)
        response_key = _column(obj, _RESPONSE_KEYS)
        query = obj.get(query_key) if query_key else None
    if query is None and response_key is None:
        raise RecordRejected(
            "bad_record",
            f"{location}: no conversation: expected 'messages' / 'conversations' (role|from, content|value), "
            f"or 'query' and 'response' (ms-swift's row shapes); the record has keys {sorted(map(str, obj))}",
        )
    if not isinstance(query, str) or not query.strip():
        raise RecordRejected(
            "missing_field", f"{location}: the question ('query' or an alias) is missing or empty"
        )
    response = _text_or_none(obj.get(response_key)) if response_key else None
    messages = [{"role": "system", "content": system}] if system is not None else []
    history = _decode(obj.get(lowered["history"])) if "history" in lowered else None
    for position, pair in enumerate(history or []):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise RecordRejected(
                "bad_record", f"{location}: history[{position}] is not a [query, response] pair"
            )
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    messages.append({"role": "user", "content": query})
    if response is not None:
        if not isinstance(response, str):
            raise RecordRejected("bad_record", f"{location}: '{response_key}' must be a string")
        messages.append({"role": "assistant", "content": response})
    return messages


def sharegpt_to_messages(conversations: Any, location: str) -> list[dict[str, str]]:
    """LLaVA/ShareGPT ``[{"from": "human"|"gpt", "value": ...}]`` -> ms-swift messages."""
    return _turns(conversations, None, location, "conversations")


def resizable_frame(width: int, height: int, min_pixels: int, max_pixels: int, where: str) -> tuple[int, int]:
    """model_frame, or the record rejected as image_not_resizable (`where` names the record and image)."""
    try:
        return model_frame(width, height, min_pixels, max_pixels)
    except ValueError as error:
        raise RecordRejected("image_not_resizable", f"{where}: {error}") from None
