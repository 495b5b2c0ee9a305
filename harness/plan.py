"""From a composed config to the rendered commands of every stage, in order."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem
from common.plugins import PLUGINS_ENV
from harness.pipeline import StageSpec, expand_extends, resolve_inputs, stage_dir, stage_names, stage_spec
from harness.render import DIALECT_OF_KIND, Rendered, StageContext, render


@dataclass
class PlannedStage:
    spec: StageSpec
    ctx: StageContext
    rendered: Rendered
    skip_reason: str | None = None  # rendered and validated, but not run in this profile
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass
class Plan:
    paper: str
    run_name: str
    run_dir: Path
    profile: str
    stages: list[PlannedStage]
    cfg: DictConfig
    notes: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest (e.g. reward_sha256)

    def stage(self, name: str) -> PlannedStage:
        for planned in self.stages:
            if planned.name == name:
                return planned
        raise KeyError(name)


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


def build_plan(cfg: DictConfig, run_name: str | None = None) -> Plan:
    """Render every stage of the selected pipeline; all problems are reported together."""
    run_name = run_name or cfg.get("run_name") or default_run_name()
    run_dir = run_directory(cfg, str(run_name))
    names = stage_names(cfg)
    expanded = expand_extends(cfg)
    problems: list[Problem] = []
    specs: dict[str, StageSpec] = {}
    for name in names:
        try:
            specs[name] = stage_spec(expanded, name)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    kinds = {name: spec.kind for name, spec in specs.items()}
    profile = str(OmegaConf.select(cfg, "profile.name", default="full"))
    cluster = cfg.cluster
    planned: list[PlannedStage] = []
    for name in names:
        spec = specs[name]
        try:
            inputs, warnings = resolve_inputs(spec, run_dir, kinds, names)
            spec = _with_total_steps(spec, inputs)
            specs[name] = spec
            ctx = _context(cfg, spec, inputs, run_dir, cluster)
            rendered = render(ctx)
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


def _context(
    cfg: DictConfig, spec: StageSpec, inputs: dict[str, Any], run_dir: Path, cluster: DictConfig
) -> StageContext:
    dialect_group = DIALECT_OF_KIND.get(spec.kind)
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
    )


def _with_total_steps(spec: StageSpec, inputs: dict[str, Any]) -> StageSpec:
    """Fill a GRPO reward schedule's `total_steps: null` with the job's optimizer steps.

    verl runs len(dataset) // data.train_batch_size steps per epoch (drop_last, v1 trainer_base),
    times trainer.total_epochs unless trainer.total_training_steps is set. The row count comes
    from the data stage's stats.json once it exists, before that from `expected_rows`.
    """
    if spec.kind != "verl_grpo":
        return spec
    kwargs = ((spec.config.get("reward") or {}).get("custom_reward_function") or {}).get("reward_kwargs")
    if not isinstance(kwargs, dict) or "total_steps" not in kwargs or kwargs["total_steps"] is not None:
        return spec
    trainer = spec.config.get("trainer") or {}
    if trainer.get("total_training_steps"):
        steps = int(trainer["total_training_steps"])
    else:
        rows = _train_rows(inputs.get("train_files")) or spec.get("expected_rows")
        if not rows:
            raise ConfigError(
                Problem(
                    f"stages.{spec.name}.expected_rows",
                    "the reward schedule needs the job's total steps: set expected_rows "
                    "(training rows) or trainer.total_training_steps",
                )
            )
        batch = int((spec.config.get("data") or {}).get("train_batch_size", 1))
        steps = (int(rows) // batch) * int(trainer.get("total_epochs", 1))
    config = copy.deepcopy(spec.config)
    config["reward"]["custom_reward_function"]["reward_kwargs"]["total_steps"] = max(steps, 1)
    return StageSpec(name=spec.name, kind=spec.kind, config=config)


def _train_rows(train_files: Any) -> int | None:
    """Rows the data stage wrote into these files (its stats.json), if it has run."""
    files = train_files if isinstance(train_files, list) else [train_files]
    total = 0
    for file in files:
        if not file:
            return None
        stats_path = Path(file).parent / "stats.json"
        if not stats_path.exists():
            return None
        written = json.loads(stats_path.read_text()).get("written") or {}
        if Path(file).name not in written:
            return None
        total += int(written[Path(file).name])
    return total


def _env_value(stage: str, key: Any, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigError(Problem(f"stages.{stage}.env.{key}", "environment values must be scalars"))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
