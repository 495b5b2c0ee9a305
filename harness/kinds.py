"""Stage kinds: everything the harness knows about a `kind:` of stage, one object per kind.

A stage config says `kind: swift_sft` (or another registered name); planning, validation, the
runner and the report look the kind up here and ask it, instead of keeping their own tables:

- `render`: the renderer (resolved stage -> argv, env; harness.render);
- `validate`: checks of the rendered command against the real trainer (harness.validate);
- `output`: the primary output, what `stage:<name>` resolves to and what must still exist for
  a completed stage to be skipped;
- `rerun`: whether an interrupted attempt resumes, what a fresh attempt deletes, how a job a
  scheduler may requeue finds its progress (harness.rerun);
- `trains`, `evaluates`, `writes_report`, `uses_reward`: what the stage is, for the report and
  for the reward file the run copies; `reward_kwargs`: the keyword arguments its trainer passes to
  every reward call, which the reward file's own `check_reward_kwargs` checks before launch;
- `tracked`: its trainer reports to the experiment tracker (`tracking=`, harness.render.tracking;
  its renderer adds the tracker's flags), so validation checks the tracker's package and login
  and the report lists its tracker run;
- `read_curves`: the training-log reader the report uses;
- `dialect`: the `dialect.<group>` its renderer reads;
- `check_config`: problems the stage's own values show before planning derives or renders
  anything (a section of the trainer's config given a scalar);
- `derive_config`: values planning fills in from completed upstream outputs;
- `answers`: what a model trained on the stage's output learns to answer, which validation parses
  with the evaluations' response formats (harness.validate.answer_format);
- `gpu`: what the GPU checks before launch need (harness.validate.environment / attention /
  vllm_parallel, harness.preflight): whether it needs a CUDA torch, the packages it imports, the
  attention implementation its trainer gets, the vLLM engines it starts, its memory estimator.

A new kind is one `register_kind(StageKind(name="...", ...))` entry: here, in a top-level module
of one of the packages `KINDS` indexes (found by reading the files, imported the first time one
of its kinds is looked up, as `expert.stage_kinds` is), or in a module of a user's package named
by the config's `plugins:` key. Nothing else in the harness names kinds.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from common.errors import Problem
from common.registry import Registry
from harness.render import Rendered, Renderer, swift, tools, verl
from harness.report.training_logs import Curves, read_swift_stage, read_verl_stage
from harness.rerun import (
    KEEP_PREDICTIONS,
    REWRITE_IN_PLACE,
    START_OVER,
    SWIFT_CHECKPOINTS,
    VERL_CHECKPOINTS,
    RerunRule,
)
from harness.reward_schedule import verl_reward_kwargs, with_reward_total_steps
from harness.validate.registered import (
    data_prep_sample_answers,
    validate_data_prep_command,
    validate_eval_command,
)
from harness.validate.swift_args import validate_swift_command
from harness.validate.verl_overrides import validate_verl_command, verl_section_problems

# A rendered command -> problems naming config keys; deep=True adds the slow checks.
Validator = Callable[[Rendered, bool], list[Problem]]
# (stage folder, the stage's node-0 log if any) -> metric -> step -> value
CurveReader = Callable[[Path, "Path | None"], Curves]
# A rendered command -> the sample answers (data_prep.source_api.SampleAnswer) a model trained on
# its output learns to write; [] when unknown. Raises what stops the stage itself.
AnswerSampler = Callable[[Rendered], list[Any]]
# (stage name, resolved stage config, resolved inputs) -> the config to render
ConfigDeriver = Callable[[str, Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Output:
    """Where a stage's primary output lives.

    relative: path inside the stage folder ("." is the folder itself);
    config_key: a stage config key whose value is the path instead, when set (a download's
        local_dir);
    in_run_dir: `relative` is inside the run directory instead (the report's report.md).
    """

    relative: str = "."
    config_key: str | None = None
    in_run_dir: bool = False

    def path(self, stage_dir: Path, run_dir: Path, config: Mapping[str, Any]) -> Path:
        if self.config_key and config.get(self.config_key):
            return Path(str(config[self.config_key]))
        base = run_dir if self.in_run_dir else stage_dir
        return base if self.relative == "." else base / self.relative

    def describe(self) -> str:
        where = "<run_dir>" if self.in_run_dir else "<stage_dir>"
        text = f"`{where}`" if self.relative == "." else f"`{where}/{self.relative}`"
        return f"`{self.config_key}` (else {text})" if self.config_key else text


def _never(config: Mapping[str, Any]) -> bool:
    return False


def _always(config: Mapping[str, Any]) -> bool:
    return True


def _grpo_rlhf(config: Mapping[str, Any]) -> bool:
    """when rlhf_type is grpo"""
    return config.get("rlhf_type") == "grpo"


def _no_reward_kwargs(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return None


def _swift_reward_kwargs(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """ms-swift's GRPO: the adapter passes reward_fn.kwargs (AIGI_REWARD) to compute_score."""
    reward_fn = config.get("reward_fn")
    if not _grpo_rlhf(config) or reward_fn is None:
        return None
    return reward_fn.get("kwargs") or {}


@dataclass(frozen=True)
class GpuFacts:
    """What the GPU checks before launch know about a kind's stages; none of them by default.

    The hooks are "package.module:function" targets, imported when first called: they take the
    planned stage (harness.plan, which imports this module) and live beside the check that calls
    them, so declaring a kind imports none of them.

    cuda: with cluster.gpus_per_node > 0 the stage needs a CUDA build of torch;
    packages: (planned) -> [Requirement], the other modules it imports (vllm, deepspeed);
    attention: (planned) -> (implementation, config key), the attention its trainer is told to use;
    attention_problems: (plan, planned) -> [Problem], attention settings its trainer cannot run;
    vllm_engines: (planned) -> [VllmEngine], the vLLM engines it starts;
    estimate: (planned, architecture, cluster) -> StageEstimate | None, its memory and disk (cluster:
    the launch.config.ClusterConfig that parse_cluster reads from the composed config).
    """

    cuda: bool = False
    packages: str | None = None
    attention: str | None = None
    attention_problems: str | None = None
    vllm_engines: str | None = None
    estimate: str | None = None

    def hook(self, name: str) -> Callable[..., Any] | None:
        """The function behind hook `name` (a field above), None when the kind has none."""
        target = getattr(self, name)
        return _resolve(target) if target else None

    def describe(self) -> str:
        parts = ["CUDA"] if self.cuda else []
        labels = {
            "packages": "packages",
            "attention": "attention",
            "vllm_engines": "vLLM",
            "estimate": "memory",
        }
        parts += [label for name, label in labels.items() if getattr(self, name)]
        return ", ".join(parts)


@cache
def _resolve(target: str) -> Callable[..., Any]:
    module, sep, attribute = target.partition(":")
    if not sep:
        raise ValueError(f"a GpuFacts hook must look like 'package.module:function', got {target!r}")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class StageKind:
    """One kind of stage; see the module docstring for what each field is used for."""

    name: str
    command: str  # what it runs, in words (docs, dry-run readers)
    render: Renderer
    output: Output
    rerun: RerunRule
    dialect: str | None = None
    validate: Validator | None = None
    trains: bool = False
    evaluates: bool = False  # writes metrics.json and predictions the report reads
    writes_report: bool = False
    uses_reward: Callable[[Mapping[str, Any]], bool] = _never  # the stage config -> scores with reward.path
    # the stage config -> the keyword arguments its trainer passes to every reward call
    reward_kwargs: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] = _no_reward_kwargs
    tracked: bool = False  # reports to the experiment tracker (its renderer renders tracking=)
    read_curves: CurveReader | None = None
    # (stage name, its trainer arguments) -> problems, checked before derive_config and render
    check_config: Callable[[str, Mapping[str, Any]], list[Problem]] | None = None
    derive_config: ConfigDeriver | None = None
    answers: AnswerSampler | None = None
    gpu: GpuFacts = GpuFacts()

    def output_path(self, stage_dir: Path, run_dir: Path, config: Mapping[str, Any]) -> Path:
        return self.output.path(stage_dir, run_dir, config)

    def check(self, rendered: Rendered, deep: bool = False) -> list[Problem]:
        return self.validate(rendered, deep) if self.validate is not None else []


# The built-in kinds below register on import; the indexed packages' kinds are declared by a
# literal `StageKind(name=...)` and imported on first use (a pipeline without them imports nothing).
KINDS: Registry[StageKind] = Registry("stage kind", packages=("expert",), declarator="StageKind")


def register_kind(kind: StageKind) -> StageKind:
    """Add a kind; its name becomes valid as `kind:` in every stage config."""
    # A StageKind's __module__ is this module; the declaring module is the caller.
    KINDS.add(kind.name, kind, declared_in=sys._getframe(1).f_globals.get("__name__"))
    return kind


def get_kind(name: str) -> StageKind:
    """The kind registered under `name` (UnknownNameError lists the others)."""
    return KINDS.get(name)


def find_kind(name: str) -> StageKind | None:
    """The kind, or None for a name no longer (or not yet) registered, e.g. in an old run."""
    return KINDS.get(name) if name in KINDS else None


def kind_names() -> list[str]:
    return KINDS.names()


# ----- the kinds ---------------------------------------------------------------------------------

register_kind(
    StageKind(
        name="data_prep",
        command="python3 -m data_prep <command>",
        render=tools.render_data_prep,
        output=Output("."),
        rerun=START_OVER,
        validate=validate_data_prep_command,
        answers=data_prep_sample_answers,
    )
)
register_kind(
    StageKind(
        name="download",
        command="python3 -m data_prep download",
        render=tools.render_download,
        output=Output("model", config_key="local_dir"),
        rerun=REWRITE_IN_PLACE,  # the hub client resumes into local_dir itself
        validate=validate_data_prep_command,
    )
)
register_kind(
    StageKind(
        name="swift_sft",
        command="swift sft",
        render=swift.render_swift_sft,
        output=Output("final"),  # harness.finalize links the last checkpoint-N here
        rerun=SWIFT_CHECKPOINTS,
        dialect="swift",
        validate=validate_swift_command,
        trains=True,
        tracked=True,
        read_curves=read_swift_stage,
        gpu=GpuFacts(
            cuda=True,
            packages="harness.validate.environment:swift_packages",
            attention="harness.validate.attention:swift_attention",
            estimate="harness.preflight:swift_estimate",
        ),
    )
)
register_kind(
    StageKind(
        name="swift_rlhf",
        command="swift rlhf --rlhf_type dpo/grpo/...",
        render=swift.render_swift_rlhf,
        output=Output("final"),
        rerun=SWIFT_CHECKPOINTS,
        dialect="swift",
        validate=validate_swift_command,
        trains=True,
        tracked=True,
        uses_reward=_grpo_rlhf,
        reward_kwargs=_swift_reward_kwargs,
        read_curves=read_swift_stage,
        gpu=GpuFacts(
            cuda=True,
            packages="harness.validate.environment:swift_rlhf_packages",
            attention="harness.validate.attention:swift_attention",
            vllm_engines="harness.validate.vllm_parallel:swift_grpo_engines",
            estimate="harness.preflight:swift_rlhf_estimate",
        ),
    )
)
register_kind(
    StageKind(
        name="swift_export",
        command="swift export --merge_lora true",
        render=swift.render_swift_export,
        output=Output("merged"),
        rerun=START_OVER,
        dialect="swift",
        validate=validate_swift_command,
        gpu=GpuFacts(estimate="harness.preflight:merge_estimate"),
    )
)
register_kind(
    StageKind(
        name="verl_grpo",
        command="python3 -m verl.trainer.main_ppo",
        render=verl.render_verl_grpo,
        output=Output("final"),  # harness.finalize links the last global_step_N here
        rerun=VERL_CHECKPOINTS,
        dialect="verl",
        validate=validate_verl_command,
        trains=True,
        tracked=True,
        uses_reward=_always,
        reward_kwargs=verl_reward_kwargs,
        read_curves=read_verl_stage,
        check_config=verl_section_problems,
        derive_config=with_reward_total_steps,
        gpu=GpuFacts(
            cuda=True,
            packages="harness.validate.environment:verl_packages",
            attention="harness.validate.attention:verl_attention",
            attention_problems="harness.validate.attention:verl_remove_padding_problems",
            vllm_engines="harness.validate.vllm_parallel:verl_engines",
            estimate="harness.preflight:verl_estimate",
        ),
    )
)
register_kind(
    StageKind(
        name="verl_merge",
        command="python3 -m verl.model_merger merge",
        render=verl.render_verl_merge,
        output=Output("hf"),
        rerun=START_OVER,
        dialect="verl",
        gpu=GpuFacts(estimate="harness.preflight:merge_estimate"),
    )
)
register_kind(
    StageKind(
        name="eval",
        command="python3 -m harness.evaluation",
        render=tools.render_eval,
        output=Output("."),
        rerun=KEEP_PREDICTIONS,
        validate=validate_eval_command,
        evaluates=True,
        gpu=GpuFacts(
            cuda=True,
            packages="harness.validate.environment:eval_packages",
            vllm_engines="harness.validate.vllm_parallel:eval_engines",
            estimate="harness.preflight:eval_estimate",
        ),
    )
)
register_kind(
    StageKind(
        name="report",
        command="python3 -m harness.report",
        render=tools.render_report,
        output=Output("report.md", in_run_dir=True),
        rerun=REWRITE_IN_PLACE,
        writes_report=True,
    )
)


# ----- the table in docs/architecture.md ---------------------------------------------------------


def kinds_table() -> str:
    """The registered kinds as the markdown table docs/architecture.md shows (a test compares)."""
    rows = [
        "| kind | runs | primary output | dialect | validated by | rerun rule | trains | tracked | reward "
        "| log reader | GPU checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rules = {id(rule): name for name, rule in _RULE_NAMES.items()}
    for name in kind_names():
        kind = get_kind(name)
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{kind.name}`",
                    f"`{kind.command}`",
                    kind.output.describe(),
                    f"`dialect.{kind.dialect}`" if kind.dialect else "",
                    f"`{kind.validate.__name__}`" if kind.validate else "",
                    f"`{rules.get(id(kind.rerun)) or _module_rule_name(kind)}`",
                    "yes" if kind.trains else "",
                    "yes" if kind.tracked else "",
                    _reward_text(kind),
                    f"`{kind.read_curves.__name__}`" if kind.read_curves else "",
                    kind.gpu.describe(),
                ]
            )
            + " |"
        )
    return "\n".join(rows)


def _module_rule_name(kind: StageKind) -> str:
    """The name a kind's own module gives its rerun rule (a kind registered outside this file)."""
    module = sys.modules.get(kind.render.__module__)
    names = [name for name, value in vars(module).items() if value is kind.rerun] if module else []
    return names[0] if names else "custom"


def _reward_text(kind: StageKind) -> str:
    if kind.uses_reward is _always:
        return "yes"
    if kind.uses_reward is _never:
        return ""
    return (kind.uses_reward.__doc__ or "depends on the stage").strip()


_RULE_NAMES = {
    "SWIFT_CHECKPOINTS": SWIFT_CHECKPOINTS,
    "VERL_CHECKPOINTS": VERL_CHECKPOINTS,
    "KEEP_PREDICTIONS": KEEP_PREDICTIONS,
    "START_OVER": START_OVER,
    "REWRITE_IN_PLACE": REWRITE_IN_PLACE,
}


if __name__ == "__main__":
    # run as a script, this file is __main__; the kinds registered themselves in harness.kinds
    from harness.kinds import kinds_table as registered_kinds_table

    print(registered_kinds_table())
