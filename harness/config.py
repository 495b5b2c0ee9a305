"""Compose the Hydra config tree in `conf/` for one invocation.

The CLI uses Hydra's compose API rather than `@hydra.main`: a dry run must not create output
folders or configure logging, and the same function serves the tests.

A paper can live outside this repository: `hydra.searchpath=[file:///path/to/conf]` adds its
config folders (paper/, reward/, eval/, results/, profile_paper/, ...) to `conf/`'s, and the
`plugins:` key names the Python modules that register its data sources, synthetic layouts,
response formats and rewards (common/plugins.py); they are imported right after composing.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem, did_you_mean
from harness.override_grammar import grammar_problems, hydra_quoted, override_key
from harness.rundir import check_run_name
from launch.config import SCHEDULERS

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"


def available(group: str, overrides: Sequence[str] = ()) -> list[str]:
    """Option names of a config group in `conf/<group>/` and the search path's folders (`_base` and the like are parts)."""
    folders = [CONF_DIR, *search_path(overrides)]
    return sorted(
        {p.stem for folder in folders for p in (folder / group).glob("*.yaml") if not p.stem.startswith("_")}
    )


def search_path(overrides: Sequence[str]) -> list[Path]:
    """The config folders a `hydra.searchpath=[...]` override adds (file:// or plain paths, pkg://)."""
    entries: list[str] = []
    for override in overrides:
        key, sep, _ = override.partition("=")
        if sep and key.lstrip("+~") == "hydra.searchpath":
            from hydra.core.override_parser.overrides_parser import OverridesParser

            try:
                value = OverridesParser.create().parse_overrides([override])[0].value()
            except Exception as exc:  # Hydra's grammar errors
                raise ConfigError(Problem("hydra.searchpath", f"cannot parse {override!r}: {exc}")) from None
            entries = [str(v) for v in (value if isinstance(value, list) else [value])]
    folders = []
    for entry in entries:
        if entry.startswith("pkg://"):
            import importlib.util

            spec = importlib.util.find_spec(entry[len("pkg://") :].replace("/", "."))
            folders += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
        else:
            folders.append(Path(entry.removeprefix("file://")).expanduser())
    return folders


@dataclass
class Invocation:
    """The command line split into what Hydra composes and what the harness handles itself."""

    overrides: list[str] = field(default_factory=list)
    stage_subset: list[str] | None = None  # `stages=[a,b]`: run only these stages
    multirun: bool = False  # `-m`: sweep (e.g. over the cross-validation fold)


_SUBSET = re.compile(r"^stages=\[(?P<names>[^\]]*)\]$")
# `stages=sft`: one stage, as `stages=[sft]` (Hydra would replace the stage definitions with it)
_ONE_STAGE = re.compile(r"^stages=(?P<names>[A-Za-z_][\w.-]*)$")


def parse_invocation(argv: Sequence[str]) -> Invocation:
    """Split argv; `stages=[...]` (a list for the whole `stages` key) or `stages=<one>` selects a
    subset."""
    inv = Invocation()
    for arg in argv:
        if arg in ("-m", "--multirun"):
            inv.multirun = True
            continue
        match = _SUBSET.match(arg) or _ONE_STAGE.match(arg)
        if match and match["names"] not in ("null", "None"):
            names = [n.strip().strip("'\"") for n in match["names"].split(",") if n.strip()]
            if not names:
                raise ConfigError(
                    Problem(
                        "stages", "stages=[] selects no stage: name them (stages=[sft,eval]) or leave it out"
                    )
                )
            inv.stage_subset = names
            continue
        inv.overrides.append(arg)
    return inv


def choice(overrides: Sequence[str], group: str) -> str | None:
    """The option a command line picks for a config group (`cluster=slurm` -> 'slurm')."""
    for override in reversed(overrides):
        _, sep, value = override.partition("=")
        if sep and override_key(override) == group:
            return value
    return None


def compose(overrides: Sequence[str]) -> DictConfig:
    """Compose `conf/config.yaml` with Hydra overrides; errors name the key and the options."""
    from harness.compose_cache import cached_compose

    _check_groups(overrides)
    overrides = absolute_path_overrides(overrides)
    full = [f"paths.repo={REPO_ROOT}", *overrides]
    # the same command line over the same files composes the same config: kept, Hydra (~0.5 s,
    # and its import) runs only for a new one
    cfg = cached_compose([CONF_DIR, *search_path(overrides)], full, lambda: _hydra_compose(full, overrides))
    _check_switches(cfg)
    _check_finite(cfg, overrides)
    load_config_plugins(cfg)
    return cfg


# Every stage runs in the checkout (launch.job.Job.workdir = paths.repo) while the harness creates
# the run directory from where it was started: a relative paths.runs put the run's manifest in one
# folder and its stages' outputs in another, and `~` was a folder named "~".
PATH_KEYS = ("paths.runs", "paths.data", "paths.models", "paths.cache")
# needs no quoting in Hydra's override grammar: ASCII only (a path under /home/josé did not lex)
_PLAIN_PATH = re.compile(r"[\w/.@%+-]*", re.ASCII)


def absolute_path_overrides(overrides: Sequence[str]) -> list[str]:
    """The command line with `paths.*=VALUE` made absolute: `~` expanded, a relative path taken
    from the directory the harness was started in, as the user typed it."""
    out = []
    for override in overrides:
        head, sep, value = override.partition("=")
        if sep and override_key(override) in PATH_KEYS and value and not value.startswith(("${", "'", '"')):
            value = os.path.abspath(os.path.expanduser(value))
            if not _PLAIN_PATH.fullmatch(value):
                value = hydra_quoted(value, "'")
            override = f"{head}={value}"
        out.append(override)
    return out


# conf/config.yaml's on/off keys. Untyped there, `submit=no` composed as the string "no", which
# is true: it submitted. Only true or false is accepted.
SWITCHES = ("dry_run", "as_published", "submit", "wait", "preflight", "allow_oom_risk", "shared_stages")


def _check_switches(cfg: DictConfig) -> None:
    problems = [
        Problem(key, f"{cfg.get(key)!r} is not true or false")
        for key in SWITCHES
        if not isinstance(cfg.get(key, False), bool)
    ]
    # A launcher that runs the stages here has nothing to submit: `submit=true` without
    # cluster=slurm ran the whole pipeline on the login machine.
    launcher = OmegaConf.select(cfg, "cluster.launcher", default=None, throw_on_resolution_failure=False)
    if cfg.get("submit") is True and isinstance(launcher, str) and launcher not in SCHEDULERS:
        problems.append(
            Problem(
                "submit",
                f"cluster={launcher} runs the stages from this command and queues nothing, so there is "
                f"nothing to submit: add cluster={SCHEDULERS[0]} to submit to the scheduler, or leave "
                "submit out",
            )
        )
    if problems:
        raise ConfigError(problems)


def _check_finite(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """A number the command line sets is finite: Hydra reads nan and inf as floats, and `nan < 0`
    is false, so every range check let them through (cluster.gpu_memory_gb=nan was a traceback in
    the pre-flight, stages.sft.learning_rate=nan reached the trainer). Only the keys the command
    line sets are read: the shipped files hold no such number."""
    problems = []
    for override in overrides:
        key = override_key(override)
        try:
            node = OmegaConf.select(cfg, key, default=None)
        except Exception:  # an interpolation that does not resolve: reported where it is used
            continue
        value = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
        problems += [
            Problem(where, f"must be a finite number, got {bad}") for where, bad in _not_finite(value, key)
        ]
    if problems:
        raise ConfigError(problems)


def _not_finite(value: object, key: str) -> list[tuple[str, float]]:
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(key, value)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _not_finite(v, f"{key}.{k}")]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _not_finite(v, f"{key}[{i}]")]
    return []


# A multirun does not run tables (harness/sweep.py): a comma list here is not offered -m.
UNSWEEPABLE = ("table", "table_runs")
# Keys that take one name or a list of names (`table=[table4,table6]`): a comma means the list.
NAME_LISTS = ("table", "table_runs")
# Keys whose values have a rule of their own: an unparsable value is reported under the rule.
VALUE_RULES = {"run_name": check_run_name}


def _grammar_problems(overrides: Sequence[str]) -> list[Problem]:
    """What Hydra's grammar finds wrong in a single run's overrides (nothing: the cause is elsewhere)."""
    return grammar_problems(
        overrides,
        sweeps_allowed=False,
        unsweepable=UNSWEEPABLE,
        value_rules=VALUE_RULES,
        name_lists=NAME_LISTS,
    )


def _hydra_compose(full: list[str], overrides: Sequence[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    from harness.config_schemas import register_schemas

    register_schemas()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return hydra_compose(config_name="config", overrides=full)
    except MissingConfigException as exc:
        raise ConfigError(Problem("", str(exc).strip())) from None
    except ConfigCompositionException as exc:
        # "Ambiguous value" (a comma in a single run) is one; the overrides' own problems come first
        problems = _grammar_problems(overrides)
        raise ConfigError(problems or _explain_composition(exc, overrides)) from None
    except Exception as exc:  # Hydra's override grammar errors, YAML syntax errors and the like
        if type(exc).__module__.startswith(("hydra", "omegaconf", "yaml")):
            problems = _grammar_problems(overrides)
            raise ConfigError(problems or Problem("", f"{type(exc).__name__}: {exc}")) from None
        raise


def load_config_plugins(cfg: DictConfig) -> list[str]:
    """Import `$AIGI_PLUGINS` and the modules the config's `plugins:` names; check `reward.path`."""
    from common.plugins import PluginError, load_plugins

    names = OmegaConf.select(cfg, "plugins", default=None) or []
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ConfigError(Problem("plugins", f"must be a list of Python module names, got {names!r}"))
    try:
        loaded = load_plugins(list(names))
    except PluginError as exc:
        raise ConfigError(Problem("", str(exc))) from None  # names the key or AIGI_PLUGINS itself
    try:  # a ${reward_file:<name>} that names no registered reward fails here, not in a stage
        OmegaConf.select(cfg, "reward.path", default=None)
    except Exception as exc:
        if not type(exc).__module__.startswith("omegaconf"):
            raise
        message = re.sub(r"^\w+ raised while resolving interpolation: ", "", str(exc).splitlines()[0])
        raise ConfigError(Problem("reward.path", message)) from None
    return loaded


def _reward_file(name: str) -> str:
    from rewards.registry import reward_file

    return str(reward_file(name))


# `path: ${reward_file:fake_hr1}`: the file of the reward registered as fake_hr1 (rewards/registry.py).
OmegaConf.register_new_resolver("reward_file", _reward_file, replace=True)


# Keys the harness reads itself (harness/cli.py's help): a flag spelt after one of them
# (`--dry-run`, `--paper fakexplain`) is pointed at the override.
HARNESS_KEYS = (
    *SWITCHES,
    "paper",
    "profile",
    "run_name",
    "stages",
    "from_stage",
    "cluster",
    "table",
    "table_runs",
)


def _override_shape_problems(overrides: Sequence[str]) -> list[Problem]:
    """Arguments that are not Hydra overrides: a flag (`--dry-run`) or a bare word (`fakexplain`).

    Hydra's own message for them is a grammar error ("LexerNoViableAltException: --dry-run",
    "missing EQUAL at '<EOF>'") that does not say what to type instead.
    """
    problems = []
    taken = set()  # `--profile smoke`: the word after the flag is its value, not a second mistake
    for index, arg in enumerate(overrides):
        if index in taken:
            continue
        if arg.startswith("-"):
            key, sep, value = arg.lstrip("-").partition("=")
            key = key.replace("-", "_")
            following = overrides[index + 1] if index + 1 < len(overrides) else ""
            if not sep and key in HARNESS_KEYS and key not in SWITCHES and _is_word(following):
                taken.add(index + 1)
                sep, value, arg = "=", following, f"{arg} {following}"
            if key in SWITCHES:
                hint = f"; did you mean {key}={value if sep else 'true'}?"
            elif key in HARNESS_KEYS:
                hint = f"; did you mean {key}={value if sep else '<value>'}?"
            else:
                hint = ""
            problems.append(
                Problem(
                    arg,
                    f"not an option: everything after `python -m harness` is a Hydra override key=value "
                    f"(python -m harness --help lists the harness keys){hint}",
                )
            )
        elif _is_word(arg):
            hint = f"; did you mean paper={arg}?" if arg in available("paper", overrides) else ""
            problems.append(Problem(arg, f"not an override: write key=value{hint}"))
    return problems


def _is_word(arg: str) -> bool:
    return bool(arg) and "=" not in arg and not arg.startswith(("-", "~"))


def _check_groups(overrides: Sequence[str]) -> None:
    """Unknown options of the groups a user picks most often get a friendly message."""
    problems = _override_shape_problems(overrides)
    for group in (
        "paper",
        "cluster",
        "model",
        "profile",
        "tracking",
        "attention",
        "reward",
        "eval",
        "results",
    ):
        picked = choice(overrides, group)
        if picked is None:
            continue
        options = available(group, overrides)
        if picked in ("null", "") and group != "profile":
            problems.append(Problem(group, f"choose one; available: {', '.join(options)}"))
            continue
        if picked in ("null", ""):
            continue
        if picked not in options:
            problems.append(
                Problem(
                    group,
                    f"unknown {group} '{picked}'{did_you_mean(picked, options)}; "
                    f"available: {', '.join(options)}",
                )
            )
    if choice(overrides, "paper") is None:
        problems.append(
            Problem(
                "paper",
                f"choose a paper with paper=<name>; available: {', '.join(available('paper', overrides))}",
            )
        )
    if problems:
        raise ConfigError(problems)


def _explain_composition(exc: Exception, overrides: Sequence[str]) -> Problem:
    merging = re.match(r"Error merging override ([^=\s]+)=", str(exc))
    if merging and exc.__cause__ is not None:
        # a value the key's schema type refuses (eval.batch_size=abc): Hydra's own message says
        # only "Error merging override", the reason is in the OmegaConf error it wraps
        reason = str(exc.__cause__).strip().splitlines()[0]
        return Problem(override_key(merging.group(1)), reason)
    match = re.search(r"Could not override '([^']+)'", str(exc))
    if not match:
        return Problem("", str(exc).strip())
    key = match.group(1)
    hint = ""
    rest = [o for o in overrides if override_key(o) != key]
    if len(rest) < len(overrides):
        try:
            composed = compose(rest)
        except ConfigError:
            composed = None
        if composed is not None:
            through = _interpolated_prefix(composed, key)
            if through is not None:
                return Problem(key, through)
            hint = suggest_key(composed, key)
    return Problem(
        key,
        f"no such key{hint}; to add a key the config does not have, prefix the "
        f"override with '+' (+{key}=...)",
    )


def _interpolated_prefix(cfg: DictConfig, dotted: str) -> str | None:
    """Why a key under an interpolation (`stages.eval.options: ${eval}`) cannot be overridden, and
    which key to set instead; None when no part of the path is one. Hydra only says the key does
    not exist, and the did-you-mean offered the same name."""
    parts = dotted.split(".")
    node: Any = cfg
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        if OmegaConf.is_interpolation(node, part):
            prefix, below = ".".join(parts[: i + 1]), ".".join(parts[i + 1 :])
            raw = str(node._get_node(part)._value())  # type: ignore[union-attr]
            target = re.fullmatch(r"\$\{([\w.]+)\}", raw)
            instead = (
                f"set {target.group(1)}.{below} instead (it applies wherever {raw} is used)"
                if target
                else "set the keys it refers to instead"
            )
            return f"{prefix} is {raw} in the config, so nothing under it can be overridden; {instead}"
        node = node._get_node(part)
    return None


def suggest_key(cfg: DictConfig, dotted: str) -> str:
    """Did-you-mean for a dotted key that does not exist in a composed config."""
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if isinstance(node, DictConfig):
        return did_you_mean(leaf, [str(k) for k in node.keys()])
    return ""
