"""The evaluation reads what the model was trained to write.

An evaluation stage parses answers with its ``response_format``; a model fine-tuned on rows whose
answers that format cannot read scores 0 accuracy with every answer "unparsable", hours later
(002 Table 4's label-only column with the recipe's think_tag_verdict). A stage kind whose output
a model learns from says what the model learns to answer (StageKind.answers; for data preparation
the source's ``sample_answers``, data_prep/source_api.py); each evaluation stage whose model
descends from such a stage (through its ``inputs.model`` and the inputs of the stages that produce
it) must read every sample with the verdict it states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from common.errors import Problem
from harness.validate.registered import eval_response_format, flag_value

if TYPE_CHECKING:
    from harness.plan import Plan, PlannedStage

__all__ = ["answer_format_problems"]


def answer_format_problems(
    plan: Plan, selected: list[PlannedStage], report_unsampled: bool = True
) -> list[Problem]:
    """One problem per (data stage, response format) that cannot be read, naming the first
    evaluation stage's key and every evaluation stage it affects. `report_unsampled`: a data stage
    whose source cannot write its samples (a file its options name is not there) is a problem too;
    False in a dry run, whose paths may be another machine's (that check is then skipped)."""
    by_name = {planned.name: planned for planned in plan.stages}
    samples_of: dict[str, list[Any]] = {}
    affected: dict[tuple[str, str], list[PlannedStage]] = {}
    problems: list[Problem] = []
    for planned in selected:
        if not planned.stage_kind.evaluates:
            continue
        response_format = eval_response_format(planned.rendered)
        if response_format is None:
            continue  # the eval validator reports a config that does not parse
        for data_stage in _training_data(planned, by_name):
            if data_stage.name not in samples_of:
                samples_of[data_stage.name], problem = _samples(data_stage)
                if problem is not None and report_unsampled:
                    problems.append(problem)
            affected.setdefault((data_stage.name, response_format), []).append(planned)
    for (data_name, response_format), evaluations in affected.items():
        problem = _unreadable(evaluations, response_format, by_name[data_name], samples_of[data_name])
        if problem is not None:
            problems.append(problem)
    return problems


def _training_data(planned: PlannedStage, by_name: dict[str, PlannedStage]) -> list[PlannedStage]:
    """The stages upstream of the evaluated model whose kind says what it learns to answer
    (data preparation), nearest first."""
    model = (planned.spec.get("inputs") or {}).get("model")
    if model is None:
        return []
    from harness.pipeline import StageSpec

    seen: list[str] = []
    todo = StageSpec(planned.name, planned.kind, {"inputs": {"model": model}}).producers()
    found: list[PlannedStage] = []
    while todo:
        name = todo.pop(0)
        if name in seen or name not in by_name:
            continue
        seen.append(name)
        upstream = by_name[name]
        if upstream.stage_kind.answers is not None:
            found.append(upstream)
        todo += upstream.spec.producers()
    return found


def _samples(data_stage: PlannedStage) -> tuple[list[Any], Problem | None]:
    """The stage's sample answers; a source that cannot write them is a problem: its stage would
    fail the same way, after the stages before it ran."""
    sampler = data_stage.stage_kind.answers
    assert sampler is not None
    try:
        return sampler(data_stage.rendered), None
    except Exception as exc:  # noqa: BLE001 - a plugin's source may raise anything; say which
        where = data_stage.rendered.keys.get("--options", f"stages.{data_stage.name}.options")
        source = flag_value(list(data_stage.rendered.argv), "--source")
        return [], Problem(where, f"source {source} cannot write its answers under these options: {exc}")


def _unreadable(
    evaluations: list[PlannedStage], response_format: str, data_stage: PlannedStage, samples: list[Any]
) -> Problem | None:
    from common.registry import UnknownNameError
    from common.response_formats import RESPONSE_FORMATS

    try:
        parse = RESPONSE_FORMATS.get(response_format)
    except UnknownNameError:
        return None  # the eval validator names the unknown format
    misread = _first_misread(parse, samples)
    if misread is None:
        return None
    sample, parsed = misread
    why = parsed.error if not parsed.ok else f"it reads the verdict {parsed.verdict!r}"
    first = evaluations[0]
    where = first.rendered.keys.get("--config-json", f"stages.{first.name}.options")
    readers = [
        name
        for name in RESPONSE_FORMATS.names()
        if _first_misread(RESPONSE_FORMATS.get(name), samples) is None
    ]
    fix = f"set eval.response_format to {' or '.join(readers)}" if readers else "train on answers it reads"
    stages = ", ".join(planned.name for planned in evaluations)
    return Problem(
        f"{where}.response_format",
        f"{response_format} cannot read the answers stage {data_stage.name} trains the model to "
        f"write (source {flag_value(list(data_stage.rendered.argv), '--source')}, "
        f"stages.{data_stage.name}.options): {sample.label} {sample.text!r}: {why}; every answer "
        f"of {stages} would count as unparsable; {fix}",
    )


def _first_misread(parse: Any, samples: list[Any]) -> tuple[Any, Any] | None:
    """(sample, what `parse` made of it) for the first sample it does not read with its label."""
    for sample in samples:
        parsed = parse(sample.text, sample.frame)
        if not (parsed.ok and parsed.verdict == sample.label):
            return sample, parsed
    return None
