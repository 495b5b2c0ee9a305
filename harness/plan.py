"""From a composed config to the rendered commands of every stage, in order.

Planning is a pure function of the composed config and of the outputs of stages that have
already completed (a data stage's stats.json): it writes nothing and changes nothing it is
given. What a real run must do first (copy the reward file into the run) is part of the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem
from common.plugins import PLUGINS_ENV
from harness.kinds import StageKind
from harness.pipeline import (
    ExtendsExpansion,
    StageSpec,
    bypassed_stages,
    primary_output,
    redirect_refs,
    resolve_inputs,
    stage_dir,
    stage_names,
    stage_spec,
)
from harness.render import Rendered, StageContext
from harness.render.tracking import Tracking, parse_tracking
from harness.reward_file import RunReward, planned_reward, with_run_reward
from harness.rundir import check_run_name


@dataclass
class PlannedStage:
    spec: StageSpec
    ctx: StageContext
    rendered: Rendered
    skip_reason: str | None = None  # rendered and validated, but not run in this profile
    warnings: list[str] = field(default_factory=list)
    # The stage's config before its kind derived values from upstream outputs: what its
    # fingerprint holds, so a derived value (GRPO total steps) never reads as a changed config.
    declared: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def stage_kind(self) -> StageKind:
        return self.spec.stage_kind

    @property
    def output(self) -> Path:
        """The primary output (what `stage:<name>` resolves to)."""
        return primary_output(self.spec, Path(self.ctx.run_dir))


@dataclass
class Plan:
    paper: str
    run_name: str
    run_dir: Path
    profile: str
    stages: list[PlannedStage]
    cfg: DictConfig  # the composed config (reward.path is the user's file: run_config() has the copy)
    reward: RunReward | None = None  # the reward file a real run copies in before its first stage
    # A launch plan with a reward copy: the same run rendered with the user's file, as printed.
    printed: Plan | None = field(default=None, repr=False)

    def stage(self, name: str) -> PlannedStage:
        for planned in self.stages:
            if planned.name == name:
                return planned
        raise KeyError(name)

    def as_printed(self) -> Plan:
        """The plan as a dry run prints it: stages score with the user's reward file."""
        return self.printed or self

    def run_config(self) -> DictConfig:
        """The config the run records: reward.path pointing at the run's copy when there is one."""
        return self.cfg if self.reward is None else with_run_reward(self.cfg, self.reward)


def default_run_name() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def paper_name(cfg: DictConfig) -> str:
    paper = cfg.get("paper")
    name = paper.get("name") if isinstance(paper, DictConfig) else None
    if not name:
        raise ConfigError(Problem("paper.name", "the paper config must set paper.name"))
    return str(name)


def run_directory(cfg: DictConfig, run_name: str) -> Path:
    return Path(str(cfg.paths.runs)) / paper_name(cfg) / run_name


def build_plan(cfg: DictConfig, run_name: str | None = None, *, launch: bool = False) -> Plan:
    """Render every stage of the selected pipeline; all problems are reported together.

    launch=True plans a run rather than a printout: stages that score with `reward.path` are
    rendered with the run's copy of the file (`Plan.reward`, installed by the runner), and
    `Plan.printed` holds the same run rendered with the user's file, from the same expansion (a
    table's dry run needs both: the launch plan's fingerprints, the printed commands).
    """
    run_name = check_run_name(str(run_name or cfg.get("run_name") or default_run_name()))
    run_dir = run_directory(cfg, run_name)
    expansion = ExtendsExpansion(cfg)
    names = stage_names(cfg, expansion)
    expanded = expansion.expand(names)
    redirects = bypassed_stages(cfg, [str(n) for n in cfg.stages], expansion)
    reward = planned_reward(cfg, run_dir, [expanded.stages[name] for name in names]) if launch else None
    plan = _render(cfg, expanded, names, redirects, run_name, run_dir)
    if reward is None:
        return plan
    # The expansion is a copy whose stages resolve ${reward.path} lazily: pointing it at the copy
    # renders the launch plan without expanding again (about 0.16 s per plan).
    expanded.reward.path = str(reward.copy)
    launched = _render(cfg, expanded, names, redirects, run_name, run_dir)
    launched.reward, launched.printed = reward, plan
    return launched


def _render(
    cfg: DictConfig,
    expanded: DictConfig,
    names: list[str],
    redirects: dict[str, str],
    run_name: str,
    run_dir: Path,
) -> Plan:
    problems: list[Problem] = []
    specs: dict[str, StageSpec] = {}
    for name in names:
        try:
            specs[name] = redirect_refs(stage_spec(expanded, name), redirects)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    profile = str(OmegaConf.select(cfg, "profile.name", default="full"))
    cluster = cfg.cluster
    tracking = _tracking(cfg)
    planned: list[PlannedStage] = []
    for name in names:
        spec = specs[name]
        try:
            check = spec.stage_kind.check_config
            if check is not None and (found := check(name, spec.trainer_args)):
                raise ConfigError(found)
            inputs, warnings = resolve_inputs(spec, run_dir, specs, names)
            declared = spec.config
            spec = _derived(spec, inputs)
            specs[name] = spec
            ctx = _context(cfg, spec, inputs, run_dir, cluster, tracking)
            rendered = spec.stage_kind.render(ctx)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        skip = (spec.get("profile_skip") or {}).get(profile)
        planned.append(
            PlannedStage(
                spec=spec,
                ctx=ctx,
                rendered=rendered,
                skip_reason=skip,
                warnings=[*warnings, *rendered.warnings],
                declared=declared,
            )
        )
    if problems:
        raise ConfigError(problems)
    return Plan(
        paper=paper_name(cfg),
        run_name=str(run_name),
        run_dir=run_dir,
        profile=profile,
        stages=planned,
        cfg=cfg,
    )


def _tracking(cfg: DictConfig) -> Tracking | None:
    """The run's experiment tracker (conf/tracking/), checked once for all stages."""
    node = cfg.get("tracking")
    if node is None:
        return None
    return parse_tracking(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]


def _context(
    cfg: DictConfig,
    spec: StageSpec,
    inputs: dict[str, Any],
    run_dir: Path,
    cluster: DictConfig,
    tracking: Tracking | None = None,
) -> StageContext:
    dialect_group = spec.stage_kind.dialect
    dialect = OmegaConf.to_container(cfg.dialect[dialect_group], resolve=True) if dialect_group else {}
    env = {str(k): _env_value(spec.name, k, v) for k, v in (spec.get("env") or {}).items() if v is not None}
    plugins = cfg.get("plugins")
    if plugins:  # the stage's process imports them too, so their sources and formats register there
        env.setdefault(PLUGINS_ENV, ",".join(str(p) for p in plugins))
    gbs = spec.get("global_batch_size")
    return StageContext(
        name=spec.name,
        kind=spec.kind,
        args=spec.trainer_args,
        inputs=inputs,
        stage_dir=str(stage_dir(run_dir, spec.name)),
        run_dir=str(run_dir),
        repo=str(cfg.paths.repo),
        nnodes=int(cluster.nnodes),
        gpus_per_node=int(cluster.gpus_per_node),
        dialect=dialect,  # type: ignore[arg-type]
        env=env,
        global_batch_size=int(gbs) if gbs is not None else None,
        options=spec.get("options") or {},
        reward_fn=spec.get("reward_fn"),
        verbatim=bool(cfg.get("as_published", False)),
        tracking=tracking,
    )


def _derived(spec: StageSpec, inputs: dict[str, Any]) -> StageSpec:
    """The stage with the values its kind derives from upstream outputs (e.g. reward steps)."""
    derive = spec.stage_kind.derive_config
    if derive is None:
        return spec
    config = derive(spec.name, spec.config, inputs)
    if config is spec.config:
        return spec
    return StageSpec(name=spec.name, kind=spec.kind, config=dict(config))


def _env_value(stage: str, key: Any, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigError(Problem(f"stages.{stage}.env.{key}", "environment values must be scalars"))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
