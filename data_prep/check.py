"""``python -m data_prep check --source NAME --input PATH``: is a dataset the user put in place usable?

Works for every registered source (:mod:`data_prep.sources`, plugins included): the inputs go
through the source's own ``prepare`` and ``convert``, nothing is written, and every problem is
listed: a missing input, a record the converter rejects (its reason and location), no usable
record at all. A source module that defines ``check_layout(inputs, *, verify_images, image_root)``
(FakeXplained: what is missing and where to get the archive) is asked instead, since it knows its
layout better.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_prep.records import RecordRejected
from data_prep.source_api import parse_options
from data_prep.sources import source_module

__all__ = ["CheckResult", "check_source"]

_SHOWN = 20


@dataclass
class CheckResult:
    source: str
    problems: list[str] = field(default_factory=list)
    read: int = 0
    labels: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        counts = ", ".join(f"{label} {n}" for label, n in sorted(self.labels.items()))
        return f"{self.source} is in place: {self.read} records, all convertible ({counts})"


def check_source(
    source: str,
    inputs: list[Path],
    *,
    options: dict[str, Any] | None = None,
    verify_images: bool | None = None,
    image_root: str | None = None,
) -> CheckResult:
    """Run ``inputs`` through source ``source`` without writing anything; collect what is wrong.

    ``verify_images`` and ``image_root`` set the source's options of those names (an error for a
    source that has no such option); ``options`` are its other converter options (``--options``).
    """
    module = source_module(source)
    result = CheckResult(source=source)
    parsed = parse_options(module.Options, options, source)
    if hasattr(module, "check_layout"):
        # the layout check reads the files only; the options are checked as convert would
        result.problems = _option_problems(module, parsed)
        flags = (
            {} if verify_images is None else {"verify_images": verify_images}
        )  # None: the source's default
        result.problems += list(module.check_layout(inputs, image_root=image_root, **flags))
        return result
    fields = {f.name for f in dataclasses.fields(parsed)}
    overrides: dict[str, Any] = {}
    if verify_images is None:
        pass  # the source's own default (every source decodes, as convert does)
    elif "verify_images" in fields:
        overrides["verify_images"] = verify_images
    elif verify_images:
        raise ValueError(f"source {source} has no verify_images option; drop --verify-images")
    if image_root is not None:
        if "image_root" not in fields:
            raise ValueError(f"source {source} has no image_root option; drop --image-root")
        overrides["image_root"] = image_root
    parsed = dataclasses.replace(parsed, **overrides)
    try:
        prepared = module.prepare([Path(p) for p in inputs], parsed)
    except (FileNotFoundError, ValueError) as exc:
        result.problems.append(str(exc))
        return result
    rejected = 0
    seen: set[str] = set()
    for record in prepared.records:
        result.read += 1
        try:
            converted = module.convert(record, parsed)
        except RecordRejected as exc:
            rejected += 1
            if rejected <= _SHOWN:
                result.problems.append(f"{exc.reason}: {exc.detail}")
            continue
        if prepared.unique_ids:
            if converted.record_id in seen:
                rejected += 1
                if rejected <= _SHOWN:
                    result.problems.append(
                        f"duplicate_id: {record.location}: record id {converted.record_id!r} appeared before"
                    )
                continue
            seen.add(converted.record_id)
        result.labels[converted.label or "unlabelled"] += 1
    if rejected > _SHOWN:
        result.problems.append(f"... and {rejected - _SHOWN} more rejected record(s)")
    if result.read == 0:
        result.problems.append(f"no records found in {', '.join(map(str, inputs))}")
    elif not result.labels:
        result.problems.append(f"none of the {result.read} records can be converted")
    return result


def _option_problems(module: Any, options: Any) -> list[str]:
    """What convert would refuse in the options before reading a record: the source's own
    ``check_options`` (data_prep/source_api.py) and a fold outside num_folds."""
    from data_prep.cv_folds import fold_problem

    problems = []
    fold, num_folds = getattr(options, "fold", None), getattr(options, "num_folds", None)
    if isinstance(fold, int) and isinstance(num_folds, int) and (problem := fold_problem(fold, num_folds)):
        problems.append(problem)
    check = getattr(module, "check_options", None)
    try:
        if check is not None:
            check(options)
    except (OSError, ValueError) as error:
        problems.append(str(error))
    return problems
