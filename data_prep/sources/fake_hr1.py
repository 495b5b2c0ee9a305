"""Fake-HR1 (seed 001): its training data -> ms-swift SFT jsonl, ms-swift GRPO jsonl, verl parquet.

Inputs (each ``--input`` a file or a folder; seeds.md §1.2, §2.2, §2.3):

- the authors' cleaned files (``train_cleaned_0915.json`` / ``train_clean_0916.json``, not public),
  which seed 001 feeds straight into ``swift sft``: ms-swift rows in any shape ms-swift accepts
  (``messages``, ``query`` / ``response``, ``conversations`` with ``from`` / ``value``;
  sources/common.py ``swift_messages``), without a label field;
- FakeClue's ``data_json/train.json`` (HF ``lingcco/FakeClue``): a JSON array of LLaVA rows
  ``{"image": "ff++/fake/.../160.png", "label": 0, "cate", "width", "height", "conversations"}``
  whose image paths are relative to ``<root>/<split>/`` (FakeVLM finetune.sh: ``--data_path
  playground/data/train.json --image_folder playground/data/train``): a file in a ``data_json``
  folder resolves its images there (``<split>`` = the file name's first word, also when the
  archive unpacked into ``<split>/<split>/``);
- GenImage's folders ``<generator>/<subset>/{train,val}/{ai,nature}`` (data_prep/image_folders.py;
  ai = fake, nature = real, the ``split`` option picks train): a folder input. GenImage has no
  explanations, so these images train the no-think answer.

Other relative image paths resolve against ``image_root`` when set, else against the file's
folder and then its parent and grandparent (ms-swift resolves them against its working directory,
and seed 001 runs from the folder holding ``./GenImage`` and ``./FakeClue``).

Labels: the record's ``label_field`` when present, mapped by ``label_values`` (numbers have no
default: FakeClue uses 0 = fake, 1 = real, FakeVLM process_data.py, and the recipe states that
mapping); without one, the answer's final real/fake (after ``</think>`` in the hybrid format).

The system prompt is NOT written into SFT rows (a record's own system turn is dropped and
counted): the recipe passes the seed's ``--system`` (001 README). Responses follow Fake-HR1's
hybrid format (001 README system prompt): ``response_style="think"`` ->
``<think>\\n{source answer}\\n</think>\\n\\n{real|fake}`` (an answer already in that format, or a bare
verdict word, is kept in its form), ``"no_think"`` -> ``<think>\\n\\n</think>\\n\\n{real|fake}``, ``"keep"``
-> the source answer verbatim.

GRPO rows carry ``ground_truth`` / ``solution`` = ``"real"`` or ``"fake"`` (verl geo3k convention,
seeds.md §2.2), and the ``system`` option (the seed's prompt) when given, since a verl prompt
has no ``--system``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from data_prep import image_folders
from data_prep.eval_manifest import DEFAULT_QUERY
from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, SampleAnswer, require_inputs
from data_prep.sources import data_source
from data_prep.sources.common import (
    WORD_LABELS,
    canonical_image_tags,
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

__all__ = [
    "OUTPUTS",
    "Options",
    "prepare",
    "convert",
    "THINK_TEMPLATE",
    "NO_THINK_TEMPLATE",
    "fakeclue_image_dir",
]

OUTPUTS = ("sft.jsonl", "grpo.jsonl", "grpo.parquet")
# 001 README system prompt: think "<think>\n[Your reasoning here]\n</think>\n\nreal or fake",
# no-think "<think>\n\n</think>\n\nreal or fake".
THINK_TEMPLATE = "<think>\n{reasoning}\n</think>\n\n{label}"
NO_THINK_TEMPLATE = "<think>\n\n</think>\n\n{label}"
EXPECTED = (
    "ms-swift rows (messages, query/response or conversations), FakeClue data_json/*.json, or GenImage "
    "folders <generator>/<subset>/{train,val}/{ai,nature}"
)


@dataclass(frozen=True)
class Options:
    image_root: str | None = None
    verify_images: bool = True
    label_field: str = "label"
    # Numeric labels mean opposite things in different datasets (seeds.md §5.8): no default.
    label_values: dict = field(default_factory=dict)
    response_style: Literal["think", "no_think", "keep"] = "think"
    system: str | None = None  # for GRPO prompts only
    default_query: str = DEFAULT_QUERY
    data_source: str = "fake_hr1"
    ability: str = "aigi_detection"
    split: Literal["train", "val"] = "train"  # GenImage folder inputs


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


_SPLIT_WORD = re.compile(r"[A-Za-z]+")


def fakeclue_image_dir(json_file: Path) -> Path | None:
    """``<root>/<split>/`` for FakeClue's ``<root>/data_json/<split>*.json``, None for other files."""
    if json_file.parent.name != "data_json":
        return None
    match = _SPLIT_WORD.match(json_file.stem)
    if not match:
        return None
    folder = json_file.parent.parent / match.group(0).lower()
    nested = folder / folder.name  # test.zip unpacked into test/ gives test/test/
    if nested.is_dir() and not any((folder / p.name).is_dir() for p in nested.iterdir() if p.is_dir()):
        return nested
    return folder


def _base_dir(path: Path) -> str:
    folder = fakeclue_image_dir(path)
    return str(folder if folder is not None else path.resolve().parent)


def _folder_records(
    folders: list[image_folders.ClassFolder], skipped: dict, start: int
) -> Iterator[RawRecord]:
    for offset, (path, folder) in enumerate(image_folders.images(folders, skipped)):
        payload = {"image": str(path), "label": folder.label, "generator": folder.generator,
                   "id": path.relative_to(folder.root.parent).as_posix()}  # fmt: skip
        yield RawRecord(
            location=str(path), payload=payload, base_dir=str(folder.root), ordinal=start + offset
        )


def _records(
    files: list[Path], folders: list[image_folders.ClassFolder], skipped: dict
) -> Iterator[RawRecord]:
    ordinal = 0
    for record in iter_files(files, base_dir=_base_dir):
        ordinal = record.ordinal + 1
        yield record
    yield from _folder_records(folders, skipped, ordinal)


def prepare(inputs: list[Path], options: Options) -> Prepared:
    paths = require_inputs(inputs, "fake_hr1", EXPECTED)
    files = [p for p in paths if not p.is_dir()]
    folders, skipped = ([], {})
    if any(p.is_dir() for p in paths):
        folders, skipped = image_folders.scan([p for p in paths if p.is_dir()], options.split, "fake_hr1")
    return Prepared(
        records=_records(files, folders, skipped),
        parquet_schemas={"grpo.parquet": parquet_schema()},
        info={"skipped": skipped} if folders else {},
        expected=EXPECTED,
    )


def _label(
    obj: dict[str, Any], answer: str | None, options: Options, location: str, warnings: list[str]
) -> str:
    verdict = verdict_from_answer(answer) if answer else None
    given = obj.get(options.label_field)
    if given is not None:
        label = word_label(given, location, options.label_values)
        if verdict is not None and verdict != label:
            warnings.append("label_disagrees_with_answer")
        return label
    if verdict is not None:
        return verdict
    if answer is None:
        raise RecordRejected(
            "missing_field",
            f"{location}: no '{options.label_field}' field and no answer to read the verdict from",
        )
    ending = " ".join(answer.split()[-6:])
    raise RecordRejected(
        "unknown_label",
        f"{location}: no '{options.label_field}' field, and the answer does not end with real or fake "
        f"(it ends {ending!r}); add a label field or set the option label_field",
    )


def _response(answer: str | None, label: str, options: Options, location: str) -> str:
    if options.response_style == "no_think":
        return NO_THINK_TEMPLATE.format(label=label)
    if answer is None or not answer.strip():
        raise RecordRejected(
            "empty_response",
            f"{location}: the record has no answer to train on (its last turn is not an assistant turn, or "
            "it is empty); response_style=no_think trains the verdict alone",
        )
    if options.response_style == "keep" or answer.lstrip().startswith("<think>"):
        return answer
    if WORD_LABELS.get(answer.strip().strip(".!").lower()) is not None:  # a bare verdict: no think steps
        return NO_THINK_TEMPLATE.format(label=label)
    return THINK_TEMPLATE.format(reasoning=answer.strip(), label=label)


def _folder_image(record: RawRecord, options: Options) -> Converted:
    item = record.payload
    images = checked_images([item["image"]], [], options.verify_images, record.location)
    user = [{"role": "user", "content": "<image>" + options.default_query}]
    response = NO_THINK_TEMPLATE.format(label=item["label"])  # GenImage has no explanations
    return _rows(record, options, item["id"], item["label"], item["generator"], images, user, response, [])


def sample_answers(options: Options) -> list[SampleAnswer]:
    """What the SFT rows teach the model to answer (the plan's validation parses them with the
    evaluation's response format, harness/validate/answer_format.py): a record's explanation in the
    think block (response_style think), the verdict alone (no_think, and GenImage folder images
    always). ``keep`` trains the records' own answers, whose form the converter does not fix: only
    the folder images' answers are known then."""
    samples = [SampleAnswer(label, NO_THINK_TEMPLATE.format(label=label)) for label in ("real", "fake")]
    if options.response_style != "keep":
        samples += [
            SampleAnswer(label, _response(f"The image looks {label}.", label, options, "sample answer"))
            for label in ("real", "fake")
        ]
    return samples


@data_source("fake_hr1")
def convert(record: RawRecord, options: Options) -> Converted:
    if isinstance(record.payload, dict):
        return _folder_image(record, options)
    obj = parse_json_object(record)
    location = record.location
    warnings: list[str] = []
    messages = swift_messages(obj, location)
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) != len(messages):
        warnings.append("system_turn_dropped")  # the recipe's --system replaces it (001 README)
    search = image_search_dirs(options.image_root, record.base_dir, parents=2)
    images = checked_images(
        image_entries(record_images(obj), location), search, options.verify_images, location
    )
    if len(images) != 1:
        raise RecordRejected("media_mismatch", f"{location}: expected one image, got {len(images)}")
    answer = turns[-1]["content"] if turns and turns[-1]["role"] == "assistant" else None
    prompt = [
        dict(m, content=canonical_image_tags(m["content"]))
        for m in (turns[:-1] if answer is not None else turns)
    ]
    first_user = next((m for m in prompt if m["role"] == "user"), None)
    if first_user is None:
        prompt.insert(0, first_user := {"role": "user", "content": ""})
    if not strip_image_tags(first_user["content"]):
        first_user["content"] = "<image>" + options.default_query
    ensure_image_tags(prompt, 1, True, location)
    label = _label(obj, answer, options, location, warnings)
    response = _response(answer, label, options, location)
    record_id = str(obj.get("id") or images[0])
    return _rows(record, options, record_id, label, obj.get("cate"), images, prompt, response, warnings)


def _rows(
    record: RawRecord, options: Options, record_id: str, label: str, category: Any, images: list[str],
    prompt: list[dict[str, str]], response: str, warnings: list[str],
) -> Converted:  # fmt: skip
    system = [{"role": "system", "content": options.system}] if options.system else []
    extra_info = {"index": record.ordinal, "id": record_id, "label": label, "category": category,
                  "image": images[0]}  # fmt: skip
    rows = {
        "sft.jsonl": [{"messages": [*prompt, {"role": "assistant", "content": response}], "images": images}],
        "grpo.jsonl": [
            {
                "messages": system + prompt,
                "images": images,
                "solution": label,
                "data_source": options.data_source,
                "extra_info": extra_info,
            }
        ],  # fmt: skip
        "grpo.parquet": [
            {
                "data_source": options.data_source,
                "prompt": system + prompt,
                "images": [{"image": images[0]}],
                "ability": options.ability,
                "reward_model": {"style": "rule", "ground_truth": label},
                "extra_info": extra_info,
            }
        ],
    }
    return Converted(record_id=record_id, label=label, rows=rows, warnings=warnings)
