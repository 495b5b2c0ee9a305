"""How an overlay changes a recipe's stage list without restating it: `pipeline_edit:`.

A profile overlay (conf/profile_paper/<profile>_<paper>.yaml) runs mostly the recipe's stages,
with a few dropped, replaced or added. Instead of copying every variant's list, it says what
changes; the edit applies to whichever list the run uses (`pipeline:` or the selected variant):

    pipeline_edit:
      drop: [download_model, eval_base]          # stages the overlay does not run
      replace: {grpo: [grpo_cpu]}                # a stage swapped for others, in its place
      first: [tiny_model, synth_data]            # stages run before all others
      before: {eval: [grpo_cpu, merge_grpo_cpu]} # stages run right before a stage of the list
      after: {merge_sft: [eval_sft]}             # ... or right after one
      last: [report]                             # stages run after all others
      keep: [eval_sft]                           # only these, what they read, and the stages
                                                 # that read no stage and no stage reads
                                                 # (downloads that fill a path, the report)
      variants:                                  # further edits for one variant only
        staged: {drop: [eval_alpha]}

The operations apply in the order above (variant edits after the shared ones). `keep` is how a
table's run (harness.table) evaluates an early stage alone, e.g. No-FT = `keep: [eval_base]`: a kept
stage the list lacks, or one it reads, is added right after the last stage it reads. A run's own edit is the config's
`run_edit`, applied after `pipeline_edit` with the same grammar, so it composes with an overlay's. A stage an edit
names must be in the list at that point (drop, replace, before, after) or defined under `stages:`
and not yet listed (what it adds); a mistake is a config error naming the edit's key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from common.errors import ConfigError, Problem, did_you_mean

__all__ = ["EDIT_KEY", "OPERATIONS", "RUN_EDIT_KEY", "apply_pipeline_edit"]

EDIT_KEY = "pipeline_edit"
RUN_EDIT_KEY = "run_edit"
OPERATIONS = ("drop", "replace", "first", "before", "after", "last", "keep")

Needs = Callable[[str], Sequence[str]]


def apply_pipeline_edit(
    names: Sequence[str],
    edit: Mapping[str, Any] | None,
    defined: Collection[str],
    variant: str | None = None,
    variants: Collection[str] = (),
    needs: Needs | None = None,
    where: str = EDIT_KEY,
) -> list[str]:
    """The stage list after `edit` (the config's `pipeline_edit`); raises ConfigError listing every problem.

    `defined`: the stages the config defines; `variant`: the selected one of `variants` (if any);
    `needs(name)`: the stages a stage reads (`keep` follows them); `where`: the edit's config key.
    """
    result = list(names)
    if not edit:
        return result
    problems: list[Problem] = []
    result = _apply(result, edit, where, defined, problems, needs, allow_variants=True)
    per_variant = (edit.get("variants") or {}) if isinstance(edit, Mapping) else {}  # else _apply said so
    if isinstance(per_variant, Mapping):
        for name, variant_edit in per_variant.items():
            if name not in variants:
                hint = did_you_mean(str(name), variants)
                known = f"; variants: {', '.join(variants)}" if variants else "; this paper has no variants"
                problems.append(Problem(f"{where}.variants.{name}", f"no such variant{hint}{known}"))
            elif name == variant:
                result = _apply(result, variant_edit, f"{where}.variants.{name}", defined, problems, needs)
    if problems:
        raise ConfigError(problems)
    return result


def _apply(
    names: list[str],
    edit: Any,
    where: str,
    defined: Collection[str],
    problems: list[Problem],
    needs: Needs | None,
    allow_variants: bool = False,
) -> list[str]:
    if not isinstance(edit, Mapping):
        problems.append(Problem(where, f"must be a mapping of {', '.join(OPERATIONS)}"))
        return names
    known = (*OPERATIONS, "variants") if allow_variants else OPERATIONS
    for key in edit:
        if key not in known:
            problems.append(
                Problem(
                    f"{where}.{key}",
                    f"unknown edit{did_you_mean(str(key), known)}; known: {', '.join(known)}",
                )
            )
    if allow_variants and "variants" in edit and not isinstance(edit["variants"] or {}, Mapping):
        problems.append(Problem(f"{where}.variants", "must map a variant name to its edit"))
    result = list(names)

    def listed(name: str, key: str) -> bool:
        if name in result:
            return True
        problems.append(
            Problem(
                key,
                f"stage '{name}' is not in the stage list{did_you_mean(name, result)}; list: {', '.join(result)}",
            )
        )
        return False

    def addable(items: Any, key: str) -> list[str]:
        added = _names(items, key, problems)
        ok = []
        for i, name in enumerate(added):
            if name not in defined:
                problems.append(
                    Problem(
                        f"{key}[{i}]",
                        f"stage '{name}' is not defined under stages{did_you_mean(name, defined)}",
                    )
                )
            elif name in result or name in ok:
                problems.append(Problem(f"{key}[{i}]", f"stage '{name}' is already in the stage list"))
            else:
                ok.append(name)
        return ok

    for i, name in enumerate(_names(edit.get("drop"), f"{where}.drop", problems)):
        if listed(name, f"{where}.drop[{i}]"):
            result.remove(name)
    for anchor, items in _mapping(edit.get("replace"), f"{where}.replace", problems).items():
        key = f"{where}.replace.{anchor}"
        if listed(anchor, key):
            at = result.index(anchor)
            result.pop(at)
            result[at:at] = addable(items, key)
    result[:0] = addable(edit.get("first"), f"{where}.first")
    for side in ("before", "after"):
        for anchor, items in _mapping(edit.get(side), f"{where}.{side}", problems).items():
            key = f"{where}.{side}.{anchor}"
            if listed(anchor, key):
                at = result.index(anchor) + (side == "after")
                result[at:at] = addable(items, key)
    result += addable(edit.get("last"), f"{where}.last")
    kept = _names(edit.get("keep"), f"{where}.keep", problems)
    if kept:
        result = _keep(result, kept, f"{where}.keep", defined, problems, needs or (lambda name: ()))
    return result


def _keep(
    names: list[str],
    kept: list[str],
    where: str,
    defined: Collection[str],
    problems: list[Problem],
    needs: Needs,
) -> list[str]:
    """`kept`, every stage they read (transitively), and the listed stages that stand alone.

    A stage stands alone when it reads no stage and no stage of the list reads it: a download that
    fills a configured path, the report. A data preparation that only a dropped stage reads (the
    SFT set of a run that evaluates the backbone) is dropped with it.
    """
    wanted: set[str] = set()
    todo = []
    for i, name in enumerate(kept):
        if name not in defined:
            problems.append(
                Problem(
                    f"{where}[{i}]",
                    f"stage '{name}' is not defined under stages{did_you_mean(name, defined)}",
                )
            )
        else:
            todo.append(name)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo += [n for n in needs(name) if n in defined]
    read_by_others = {r for n in names for r in needs(n)}
    wanted |= {n for n in names if not needs(n) and n not in read_by_others}
    result = [n for n in names if n in wanted]
    # A kept stage, or one it reads, that the list lacks (an overlay dropped it, or no pipeline
    # lists it: the smoke profile's out-of-distribution sets) is added right after the last stage
    # it reads; what it reads first.
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...] = ()) -> None:
        if name in order or name in trail:
            return
        for read in needs(name):
            if read in wanted:
                visit(read, (*trail, name))
        order.append(name)

    for name in kept:
        if name in wanted:
            visit(name)
    for name in [n for n in order if n not in result]:
        read = [result.index(n) for n in needs(name) if n in result]
        at = max(read) + 1 if read else 0
        result.insert(at, name)
    missing = sorted(wanted - set(result))
    if missing:
        problems.append(
            Problem(where, f"kept stages read {', '.join(missing)}, which the stage list does not have")
        )
    return result


def _names(value: Any, where: str, problems: list[Problem]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        problems.append(Problem(where, f"must be a list of stage names, got {value!r}"))
        return []
    return [str(v) for v in value]


def _mapping(value: Any, where: str, problems: list[Problem]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(
            Problem(where, f"must map a stage of the list to the stages to insert, got {value!r}")
        )
        return {}
    return {str(k): v for k, v in value.items()}
