"""verl dataset class: name every prompt verl leaves out for being longer than data.max_prompt_length.

With data.filter_overlong_prompts (on in Fake-HR1's and FakeXplain's recipes, as in verl's VL
examples) verl's RLHFDataset drops each prompt longer than max_prompt_length when it reads the
dataset and prints only the two lengths ("dataset len", "filter dataset len"), so the runs of a
table could train on different sets without a word (a long region description makes a long
prompt only in the runs that keep it).

The harness renders every verl GRPO stage with ``data.custom_cls.path=<this file>`` and
``data.custom_cls.name=RecordingRLHFDataset`` (verl's own hook for a dataset class, loaded by
file path in the process that builds the datasets) and AIGI_SKIPPED_RECORDS naming a file. The
class is verl's RLHFDataset with one change: it numbers the rows before verl's own filter runs and
appends one JSON line per row the filter removed (its split, index, images, a digest of the
prompt, max_prompt_length, how many rows the dataset had), then drops the numbers again: what
verl trains on is exactly what it trained on before. `python -m harness.finalize verl` counts
the rows once the stage ends (the file and format of data_prep/swift_skipped_records.py).

verl is imported only when verl asks for the class (a module ``__getattr__``), so the harness and
the tests import this file without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["CLASS_NAME", "REASON", "SKIPPED_ENV", "record_of"]

SKIPPED_ENV = "AIGI_SKIPPED_RECORDS"  # as data_prep/swift_skipped_records.py (a test checks)
CLASS_NAME = "RecordingRLHFDataset"
REASON = "prompt_longer_than_max_prompt_length"
_ROW = "__aigi_row_number"


def _image_names(images: Any) -> list[str]:
    names = []
    for image in images or []:
        if isinstance(image, dict):
            image = image.get("image") or image.get("path") or "<bytes>"
        names.append(image if isinstance(image, str) else f"<{type(image).__name__}>")
    return names


def _file_names(files: Any) -> list[str]:
    if files is None:
        return []
    if isinstance(files, str):
        return [files]
    return [str(f) for f in files]


def record_of(
    row: dict[str, Any],
    *,
    prompt_key: str,
    image_key: str,
    max_length: int,
    split: str | None,
    dataset_rows: int,
    data_files: Sequence[str],
) -> dict[str, Any]:
    """The JSON line for one prompt verl's filter removed."""
    prompt = row.get(prompt_key) or []
    digest = hashlib.sha256(json.dumps(prompt, sort_keys=True, default=str).encode()).hexdigest()
    users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    extra = row.get("extra_info") if isinstance(row.get("extra_info"), dict) else {}
    return {
        "reason": REASON,
        "length": None,  # verl's filter keeps the length to itself
        "max_length": max_length,
        "split": split,
        "index": extra.get("index"),
        "data_source": row.get("data_source"),
        "images": _image_names(row.get(image_key)),
        "messages_sha256": digest,
        "user": str(users[0])[:200] if users else None,
        "dataset_rows": dataset_rows,
        "data_files": list(data_files),
    }


def _append(path: str, lines: list[dict[str, Any]]) -> None:
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _recording_class() -> type:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    class RecordingRLHFDataset(RLHFDataset):
        """verl's RLHFDataset; the prompts its filter removes are written to $AIGI_SKIPPED_RECORDS."""

        def maybe_filter_out_long_prompts(self, dataframe: Any = None) -> Any:
            path = os.environ.get(SKIPPED_ENV)
            if not (self.filter_overlong_prompts and path and dataframe is not None):
                return super().maybe_filter_out_long_prompts(dataframe)
            numbered = dataframe.add_column(_ROW, list(range(len(dataframe))))
            kept = super().maybe_filter_out_long_prompts(numbered)
            removed = sorted(set(range(len(dataframe))) - set(kept[_ROW]))
            if removed:
                files = _file_names(self.original_data_files)
                _append(
                    path,
                    [
                        record_of(
                            row,
                            prompt_key=self.prompt_key,
                            image_key=self.image_key,
                            max_length=int(self.max_prompt_length),
                            split=self._split(files),
                            dataset_rows=len(dataframe),
                            data_files=files,
                        )
                        for row in dataframe.select(removed)
                    ],
                )
            return kept.remove_columns(_ROW)

        def _split(self, files: list[str]) -> str | None:
            for split, key in (("train", "train_files"), ("val", "val_files")):
                if files == _file_names(self.config.get(key)):
                    return split
            return None

    return RecordingRLHFDataset


def __getattr__(name: str) -> Any:
    if name == CLASS_NAME:
        module = sys.modules.get(__name__)
        # verl loads the file again for the validation set, under the same name: the class the
        # first load registered stays the one class, so the training set's pickles still find it.
        cls = (vars(module).get(CLASS_NAME) if module is not None else None) or _recording_class()
        cls.__qualname__ = CLASS_NAME
        globals()[name] = cls
        if module is None:
            # Loaded by file path (verl's custom_cls loads it under a name it never registers).
            # verl's filter hands the dataset to `datasets`, which pickles it with dill; a class dill
            # cannot import by name is rebuilt by value and loses RLHFDataset's methods, and every
            # prompt is then filtered out. Registered, the class is pickled by reference.
            module = sys.modules[__name__] = types.ModuleType(__name__)
        setattr(module, CLASS_NAME, cls)
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
