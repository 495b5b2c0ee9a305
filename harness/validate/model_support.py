"""Stage kinds the model group says its trainer cannot run (``model.unsupported_kinds``).

A model group lists, per stage kind, why the pinned trainer cannot train or serve its model, e.g.
``conf/model/internvl2_5_8b.yaml``: ``unsupported_kinds: {verl_grpo: "not runnable with verl
0.9.1: ..."}``. A plan with such a stage fails validation with that reason and the group's name,
before any job starts, instead of failing hours later inside the trainer (or running a stage whose
result column then stays silently empty). The reason is data: no model name appears in code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from common.errors import Problem

if TYPE_CHECKING:
    from harness.plan import Plan, PlannedStage

__all__ = ["unsupported_reason", "unsupported_problems"]


def unsupported_reason(model: Mapping[str, Any] | None, kind: str) -> str | None:
    """Why the model group ``model`` cannot run a stage of ``kind``, or None when it can."""
    if not model:
        return None
    table = model.get("unsupported_kinds") or {}
    reason = table.get(kind)
    return " ".join(str(reason).split()) if reason else None


def unsupported_problems(plan: Plan, selected: Sequence[PlannedStage]) -> list[Problem]:
    """One problem per selected stage whose kind the model group marks as not runnable."""
    model = OmegaConf.select(plan.cfg, "model", default=None)
    if model is None:
        return []
    model = OmegaConf.to_container(model, resolve=False)
    group = model.get("group") or model.get("name") or "the model group"
    problems = []
    for planned in selected:
        reason = unsupported_reason(model, planned.kind)
        if reason is not None:
            problems.append(
                Problem(
                    f"stages.{planned.name}",
                    f"model={group} ({model.get('hub_id') or model.get('name')}) cannot run this "
                    f"{planned.kind} stage: {reason} (model.unsupported_kinds.{planned.kind})",
                )
            )
    return problems
