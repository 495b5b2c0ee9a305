"""Names a stage's own program looks up in a registry, checked before anything runs.

A data-preparation stage names a data source (``source:``) or a synthetic layout (``layout:``), an
evaluation stage a backend, a response format and metrics (its ``options``). The registries find
the project's entries and the plugins' (common/plugins.py, already imported by the composition),
so a typo, or a plugin that was not loaded, is reported with the config key and the known names
instead of failing in the stage hours later.
"""

from __future__ import annotations

from typing import Any

from common.errors import ConfigError, Problem, did_you_mean
from harness.plan import PlannedStage

__all__ = ["check_registered_names"]


def check_registered_names(planned: PlannedStage) -> list[Problem]:
    if planned.kind == "data_prep":
        return _data_prep(planned)
    if planned.kind == "eval":
        return _eval(planned)
    return []


def _unknown(key: str, what: str, name: Any, known: list[str]) -> Problem:
    return Problem(key, f"unknown {what} '{name}'{did_you_mean(str(name), known)}; known: {', '.join(known)}")


def _data_prep(planned: PlannedStage) -> list[Problem]:
    args = planned.spec.trainer_args
    command = args.get("command", "convert")
    where = f"stages.{planned.name}"
    if command in ("convert", "check"):
        from data_prep.sources import SOURCES

        source, known = args.get("source"), SOURCES.names()
        if source not in known:
            return [_unknown(f"{where}.source", "data source", source, known)]
    elif command == "synth":
        from data_prep.synth_layouts import LAYOUTS

        layout, known = args.get("layout"), LAYOUTS.names()
        if layout not in known:
            return [_unknown(f"{where}.layout", "synth layout", layout, known)]
    return []


def _eval(planned: PlannedStage) -> list[Problem]:
    from harness.evaluation.config import parse_eval_config

    try:
        parse_eval_config(dict(planned.spec.get("options") or {}))
    except ConfigError as exc:
        where = f"stages.{planned.name}.options"
        return [
            Problem(where + p.key[len("eval") :] if p.key.startswith("eval") else where, p.message)
            for p in exc.problems
        ]
    return []
