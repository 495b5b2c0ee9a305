"""Stage kinds the model group says its trainer cannot run (``model.unsupported_kinds``).

A model group lists, per stage kind, a short ``summary`` and the ``reason`` the pinned trainer
cannot train or serve its model, e.g. ``conf/model/internvl2_5_8b.yaml``::

    unsupported_kinds:
      verl_grpo: {summary: not runnable with verl 0.9.1, reason: "verl has no InternVL code ..."}

A plan with such a stage fails validation with both and the group's name, before any job starts,
instead of failing hours later inside the trainer. A run that leaves such stages out (an SFT-only
run of the group) reports the cells of those stages, and of every stage that reads their output,
with the summary instead of a silent "not run" (harness/report/tables.py). The reasons are data:
no model name appears in code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from common.errors import Problem

if TYPE_CHECKING:
    from harness.plan import Plan, PlannedStage

__all__ = ["unsupported", "unsupported_problems", "unrunnable_summary"]

STAGE_REF = "stage:"


def unsupported(model: Mapping[str, Any] | None, kind: str) -> tuple[str, str] | None:
    """(summary, reason) when the model group ``model`` cannot run a stage of ``kind``, else None."""
    if not isinstance(model, Mapping):
        return None
    entry = (model.get("unsupported_kinds") or {}).get(kind)
    if not entry:
        return None
    if not isinstance(entry, Mapping) or not entry.get("summary") or not entry.get("reason"):
        raise ValueError(f"model.unsupported_kinds.{kind} needs a summary and a reason, got {entry!r}")
    return " ".join(str(entry["summary"]).split()), " ".join(str(entry["reason"]).split())


def unsupported_problems(plan: Plan, selected: Sequence[PlannedStage]) -> list[Problem]:
    """One problem per selected stage whose kind the model group marks as not runnable."""
    model = OmegaConf.select(plan.cfg, "model", default=None)
    if model is None:
        return []
    model = OmegaConf.to_container(model, resolve=True)
    group = model.get("group") or model.get("name") or "the model group"
    problems = []
    for planned in selected:
        found = unsupported(model, planned.kind)
        if found is not None:
            summary, reason = found
            problems.append(
                Problem(
                    f"stages.{planned.name}",
                    f"model={group} ({model.get('hub_id') or model.get('name')}) cannot run this "
                    f"{planned.kind} stage: {summary}: {reason} (model.unsupported_kinds.{planned.kind})",
                )
            )
    return problems


def _stage(stages: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stage of a resolved config with its ``extends`` chain merged (kind and inputs)."""
    node = stages.get(name)
    if not isinstance(node, Mapping) or name in seen:
        return {}
    base = _stage(stages, str(node["extends"]), (*seen, name)) if node.get("extends") else {}
    inputs = {**(base.get("inputs") or {}), **(node.get("inputs") or {})}
    return {"kind": node.get("kind", base.get("kind")), "inputs": inputs}


def unrunnable_summary(config: Mapping[str, Any], stage: str) -> str | None:
    """The summary of why ``stage`` of a run's resolved config cannot run with its model group:
    of the stage itself or of a stage whose output it reads (``stage:<name>`` inputs, followed
    upstream); the most upstream one wins, the first cause (an evaluation of GRPO weights names
    the GRPO trainer). None when nothing on its way is marked."""
    stages = config.get("stages")
    model = config.get("model")
    if not isinstance(stages, Mapping) or not isinstance(model, Mapping):
        return None
    found: tuple[int, str] | None = None
    frontier, seen, depth = [stage], {stage}, 0
    while frontier:
        upstream = []
        for name in frontier:
            node = _stage(stages, name)
            marked = unsupported(model, str(node.get("kind")))
            if marked is not None and (found is None or depth > found[0]):
                found = (depth, marked[0])
            for value in node.get("inputs", {}).values():
                if isinstance(value, str) and value.startswith(STAGE_REF):
                    ref = value[len(STAGE_REF) :].split("/", 1)[0]
                    if ref not in seen:
                        seen.add(ref)
                        upstream.append(ref)
        frontier, depth = upstream, depth + 1
    return found[1] if found is not None else None
