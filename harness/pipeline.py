"""A paper's pipeline: which stages run, in what order, and where their inputs come from.

A paper config has `stages:` (name -> stage config) and either `pipeline:` (ordered names) or
`variants:` (variant name -> ordered names) with `variant:` choosing one; an overlay changes that
list with `pipeline_edit:` (harness.pipeline_edit). A stage config holds the trainer's own
arguments plus a few harness keys (RESERVED_KEYS). `extends: <stage>` copies another stage's
config and overrides it, so three GRPO stages do not repeat forty keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from common.errors import ConfigError, Problem, did_you_mean
from harness.kinds import KINDS, StageKind, get_kind
from harness.pipeline_edit import EDIT_KEY, RUN_EDIT_KEY, apply_pipeline_edit

# Keys of a stage config that belong to the harness, not to the trainer.
RESERVED_KEYS = frozenset(
    {
        "kind",  # the stage kind (harness.kinds): renderer, validator, outputs, resume rule
        "inputs",  # name -> literal path, `stage:<name>[/<file>]`, or {prefer, fallback, warning}
        "env",  # extra environment for the stage's process
        "global_batch_size",  # the paper's global batch; gradient accumulation is derived from it
        "extends",  # base stage whose config this one overrides
        "expected_rows",  # training rows the paper's data yields, for step counts before data exists
        "options",  # tool options (data prep, eval, report), passed as one JSON argument
        "reward_fn",  # ms-swift GRPO: {path, name, kwargs} of a verl-style compute_score (AIGI_REWARD)
        "profile_skip",  # {profile: reason}: rendered and validated, but not run, in that profile
        "note",  # free text for the user: shown in dry runs and with the stage's missing inputs
        "bypass",  # {when: <config key>, in: [values]}: then the stage is left out, its readers read its input
    }
)

STAGE_REF = "stage:"


@dataclass(frozen=True)
class StageSpec:
    """One stage of the pipeline with its config resolved to plain Python values."""

    name: str
    kind: str
    config: dict[str, Any]  # every key of the stage, reserved ones included

    @property
    def trainer_args(self) -> dict[str, Any]:
        return {k: v for k, v in self.config.items() if k not in RESERVED_KEYS}

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    @property
    def stage_kind(self) -> StageKind:
        return get_kind(self.kind)

    @property
    def note(self) -> str | None:
        """The stage's `note:` on one line (a `|` block keeps its newlines), None when it has none."""
        note = self.config.get("note")
        if note is None:
            return None
        return " ".join(str(note).split()) or None

    def literal_inputs(self) -> list[tuple[str, str]]:
        """(config key, path) of inputs that are paths the user provides, not stage outputs."""
        found: list[tuple[str, str]] = []

        def walk(value: Any, where: str) -> None:
            if value is None:
                return
            if isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, f"{where}[{i}]")
            elif isinstance(value, dict):
                if value.get("prefer") not in (None, ""):
                    walk(value["prefer"], f"{where}.prefer")
                else:
                    walk(value.get("fallback"), f"{where}.fallback")
            elif not str(value).startswith(STAGE_REF):
                found.append((where, literal_path(str(value))))

        for key, value in (self.get("inputs") or {}).items():
            walk(value, f"stages.{self.name}.inputs.{key}")
        return found

    def producers(self) -> list[str]:
        """Names of the stages whose outputs this stage reads (the `stage:<name>` inputs in use)."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, dict):
                walk(value.get("prefer") if value.get("prefer") not in (None, "") else value.get("fallback"))
            elif isinstance(value, str) and value.startswith(STAGE_REF):
                found.append(value[len(STAGE_REF) :].partition("/")[0])

        for value in (self.get("inputs") or {}).values():
            walk(value)
        return found


def stage_names(cfg: DictConfig, expansion: ExtendsExpansion | None = None) -> list[str]:
    """The ordered stage names of the selected variant (or the plain pipeline).

    ``expansion``: the caller's expansion of ``cfg`` (build_plan shares one: each copy of the
    config costs about a tenth of a dry run).
    """
    stages = cfg.get("stages")
    if not isinstance(stages, DictConfig) or len(stages) == 0:
        raise ConfigError(Problem("stages", "the paper config defines no stages"))
    variants = cfg.get("variants")
    variant = None
    if variants is not None:
        variant = cfg.get("variant")
        if variant not in variants:
            raise ConfigError(
                Problem(
                    "variant",
                    f"unknown variant '{variant}'"
                    f"{did_you_mean(str(variant), list(variants))}; "
                    f"available: {', '.join(variants)}",
                )
            )
        names = list(variants[variant])
        where = f"variants.{variant}"
    elif cfg.get("pipeline") is not None:
        names = list(cfg.pipeline)
        where = "pipeline"
    else:
        raise ConfigError(
            Problem("pipeline", "the paper config must list its stages in `pipeline:` or `variants:`")
        )
    problems = [
        Problem(where, f"stage '{n}' is not defined under stages{did_you_mean(n, list(stages))}")
        for n in names
        if n not in stages
    ]
    expansion = expansion or ExtendsExpansion(cfg)
    needs = _reads(expansion)
    # An overlay's changes to the list, then a table run's own (harness.pipeline_edit).
    for key in (EDIT_KEY, RUN_EDIT_KEY):
        edit = cfg.get(key)
        if edit is None or problems:
            continue
        plain = OmegaConf.to_container(edit, resolve=True) if isinstance(edit, DictConfig) else edit
        names = apply_pipeline_edit(
            names, plain, [str(k) for k in stages], variant, [str(v) for v in variants or ()], needs, key
        )
    if not problems:
        bypassed = bypassed_stages(cfg, names, expansion)
        names = [n for n in names if n not in bypassed]
    seen = set()
    for n in names:
        if n in seen:
            problems.append(Problem(where, f"stage '{n}' is listed twice"))
        seen.add(n)
    if problems:
        raise ConfigError(problems)
    return names


def _reads(expansion: ExtendsExpansion) -> Callable[[str], list[str]]:
    """name -> the stages its `inputs:` read (resolved lazily: only `keep` and bypass rules ask)."""
    cache: dict[str, list[str]] = {}

    def reads(name: str) -> list[str]:
        if name not in cache:
            inputs = expansion.expand([name]).stages[name].get("inputs")
            try:
                plain = OmegaConf.to_container(inputs, resolve=True) if inputs is not None else {}
            except OmegaConfBaseException:
                plain = {}  # stage_spec reports the key that does not resolve
            spec = StageSpec(name=name, kind="", config={"inputs": plain})
            cache[name] = spec.producers()
        return cache[name]

    return reads


def bypassed_stages(
    cfg: DictConfig, names: list[str], expansion: ExtendsExpansion | None = None
) -> dict[str, str]:
    """Stages of `names` whose `bypass:` condition holds -> the stage their readers read instead.

    A full fine-tune has no LoRA adapter to merge: `merge_sft: {bypass: {when: stages.sft.tuner_type,
    in: [full]}}` leaves the merge out and points `stage:merge_sft` at its own input, `stage:sft`.
    """
    stages = cfg.stages
    found: dict[str, str] = {}
    reads = _reads(expansion or ExtendsExpansion(cfg))  # one copy of the config for every rule that holds
    for name in names:
        rule = stages[name].get("bypass") if isinstance(stages[name], DictConfig) else None
        if rule is None:
            continue
        where = f"stages.{name}.bypass"
        rule = OmegaConf.to_container(rule, resolve=True)
        if not isinstance(rule, dict) or set(rule) != {"when", "in"} or not isinstance(rule["in"], list):
            raise ConfigError(Problem(where, f"must be {{when: <config key>, in: [values]}}, got {rule!r}"))
        if OmegaConf.select(cfg, str(rule["when"]), default=None) not in rule["in"]:
            continue
        read = reads(name)
        if len(read) != 1:
            raise ConfigError(
                Problem(
                    where, f"a bypassed stage must read exactly one stage, '{name}' reads {read or 'none'}"
                )
            )
        found[name] = read[0]
    for name, target in list(found.items()):  # a chain of bypassed stages points at the first real one
        while target in found:
            target = found[target]
        found[name] = target
    return found


def redirect_refs(spec: StageSpec, redirects: Mapping[str, str]) -> StageSpec:
    """The stage with every `stage:<bypassed>[/<file>]` input pointing at the bypassed stage's input."""
    if not redirects:
        return spec

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(STAGE_REF):
            producer, sep, rel = value[len(STAGE_REF) :].partition("/")
            if producer in redirects:
                return f"{STAGE_REF}{redirects[producer]}{sep}{rel}"
        return value

    inputs = spec.get("inputs")
    if not inputs:
        return spec
    return StageSpec(name=spec.name, kind=spec.kind, config={**spec.config, "inputs": walk(inputs)})


class ExtendsExpansion:
    """One copy of a config whose stages' `extends:` are merged as they are asked for.

    The merged stages stay inside the copy, so their interpolations still resolve against the
    whole config (e.g. ${reward.schedules.staged.alpha}). Planning asks for the selected pipeline's
    stages and the bypassed ones: merging the other variants' stages too was a third of a dry run,
    and a copy per question another third.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.config = cfg.copy()
        OmegaConf.set_struct(self.config, False)
        self._done: set[str] = set()

    def expand(self, names: Iterable[str]) -> DictConfig:
        """The copy, with ``names`` (and the stages they extend) merged."""
        for name in names:
            _expand(self.config, str(name), chain=(), done=self._done)
        return self.config


def expand_extends(cfg: DictConfig, only: Sequence[str] | None = None) -> DictConfig:
    """A copy of `cfg` in which every stage with `extends:` (of ``only`` and what they extend,
    when given) holds its merged config (ExtendsExpansion)."""
    expansion = ExtendsExpansion(cfg)
    return expansion.expand(list(expansion.config.stages.keys()) if only is None else only)


def _expand(work: DictConfig, name: str, chain: tuple[str, ...], done: set[str]) -> None:
    stages = work.stages
    if name in done:
        return
    if name in chain:
        raise ConfigError(
            Problem(f"stages.{name}.extends", f"circular extends: {' -> '.join(chain + (name,))}")
        )
    node = stages[name]
    if not OmegaConf.is_dict(node):  # `stages.sft=null` on the command line
        raise ConfigError(
            Problem(f"stages.{name}", f"a stage is a mapping of its settings (kind: ..., ...), got {node!r}")
        )
    base_name = node.get("extends")
    if base_name is not None:
        if base_name not in stages:
            raise ConfigError(
                Problem(
                    f"stages.{name}.extends",
                    f"no stage named '{base_name}'{did_you_mean(str(base_name), list(stages))}",
                )
            )
        _expand(work, str(base_name), chain + (name,), done)
        merged = OmegaConf.merge(stages[base_name], node)
        merged.pop("extends", None)
        stages[name] = merged
    done.add(name)


# A stage's settings that every kind reads as a mapping (a scalar there was an AttributeError).
_MAPPINGS = ("inputs", "env", "options", "profile_skip", "reward_fn", "reward_fn.kwargs")


def stage_spec(cfg: DictConfig, name: str) -> StageSpec:
    """Resolve one stage (of a config passed through `expand_extends`) and check its kind."""
    node = cfg.stages[name]
    try:
        resolved = OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or f"stages.{name}"
        raise ConfigError(Problem(str(key), f"{type(exc).__name__}: {str(exc).splitlines()[0]}")) from None
    assert isinstance(resolved, dict)
    problems = []
    for key in _MAPPINGS:
        parent, _, leaf = key.rpartition(".")
        section = resolved.get(parent) if parent else resolved
        value = section.get(leaf) if isinstance(section, dict) else None
        if value is not None and not isinstance(value, dict):
            problems.append(
                Problem(f"stages.{name}.{key}", f"must be a mapping (key: value, ...), got {value!r}")
            )
    if problems:
        raise ConfigError(problems)
    kind = resolved.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            Problem(
                f"stages.{name}.kind",
                f"unknown stage kind '{kind}'"
                f"{did_you_mean(str(kind), KINDS.names())}; "
                f"available: {', '.join(KINDS.names())}",
            )
        )
    return StageSpec(name=name, kind=kind, config=resolved)


def stage_dir(run_dir: Path, name: str) -> Path:
    return run_dir / name


def primary_output(spec: StageSpec, run_dir: Path) -> Path:
    """The stage's primary output: what `stage:<name>` means, what the manifest records."""
    return spec.stage_kind.output_path(stage_dir(run_dir, spec.name), run_dir, spec.config)


def resolve_ref(
    ref: str, run_dir: Path, specs: Mapping[str, StageSpec], order: list[str], consumer: str, key: str
) -> str:
    """`stage:<name>[/<file>]` -> a path in the run directory; the producer must run earlier."""
    target = ref[len(STAGE_REF) :]
    producer, _, rel = target.partition("/")
    if producer not in specs:
        raise ConfigError(
            Problem(key, f"'{ref}' names no stage of this pipeline{did_you_mean(producer, list(specs))}")
        )
    if order.index(producer) >= order.index(consumer):
        raise ConfigError(Problem(key, f"'{ref}': stage '{producer}' runs after '{consumer}'"))
    if rel:
        return str(stage_dir(run_dir, producer) / rel)
    return str(primary_output(specs[producer], run_dir))


def resolve_inputs(
    spec: StageSpec, run_dir: Path, specs: Mapping[str, StageSpec], order: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """Resolve a stage's `inputs:` to paths; returns (inputs, warnings)."""
    warnings: list[str] = []
    resolved: dict[str, Any] = {}
    for key, value in (spec.get("inputs") or {}).items():
        where = f"stages.{spec.name}.inputs.{key}"
        resolved[key] = _resolve_input(value, run_dir, specs, order, spec.name, where, warnings)
    return resolved, warnings


def _resolve_input(
    value: Any,
    run_dir: Path,
    specs: Mapping[str, StageSpec],
    order: list[str],
    consumer: str,
    where: str,
    warnings: list[str],
) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [
            _resolve_input(v, run_dir, specs, order, consumer, f"{where}[{i}]", warnings)
            for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        # {prefer: <path or null>, fallback: <path>, warning: <text>}: an optional better input.
        unknown = set(value) - {"prefer", "fallback", "warning"}
        if unknown:
            raise ConfigError(
                Problem(
                    where,
                    f"unknown keys {sorted(unknown)}; an input is a path, "
                    f"'stage:<name>[/file]', or {{prefer, fallback, warning}}",
                )
            )
        if value.get("prefer") not in (None, ""):
            return _resolve_input(
                value["prefer"], run_dir, specs, order, consumer, f"{where}.prefer", warnings
            )
        if value.get("warning"):
            warnings.append(f"{where}: {value['warning']}")
        return _resolve_input(
            value.get("fallback"), run_dir, specs, order, consumer, f"{where}.fallback", warnings
        )
    text = str(value)
    if text.startswith(STAGE_REF):
        return resolve_ref(text, run_dir, specs, order, consumer, where)
    return literal_path(text)


def literal_path(text: str) -> str:
    """A path the user gives as an input, as the stage gets it: `~` expanded and a relative path
    taken from the directory the harness started in. Stages run in the checkout
    (launch.job.Job.workdir), so `data.root=mydata` from another directory was found by the
    existence check and not by the stage."""
    if not text or "://" in text:
        return text
    return os.path.abspath(os.path.expanduser(text))
