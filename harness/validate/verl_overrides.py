"""Check rendered verl overrides against the installed verl's own Hydra config tree.

Fast path (every CLI call): verl's `ppo_trainer` defaults, composed with plain hydra-core (no verl
import; ~0.5 s) once per verl install and cached on disk (`verl_defaults`); then check each
override's key exists (or is added with '+'), flag keys that compose but main_ppo never reads,
and mirror verl's batch-size checks. Deep path
(`check_verl_deep`, before a launch and in tests): compose with the overrides for real and run
verl's own `validate_config` in a subprocess (importing verl takes ~10 s).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from common.atomic import atomic_open
from common.errors import Problem, did_you_mean
from common.gpu_share import GPU_SHARE_RULE, is_gpu_share
from common.user_cache import user_cache_dir
from harness.render import Rendered
from harness.trainer_specs import VERL_VERSION, verl_spec_path


def verl_package_dir() -> Path:
    spec = importlib.util.find_spec("verl")  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise RuntimeError("verl is not installed; run `make install`")
    return Path(spec.origin).parent


def verl_config_dir() -> Path:
    return verl_package_dir() / "trainer" / "config"


@lru_cache(maxsize=1)
def verl_defaults() -> DictConfig:
    """verl's `ppo_trainer` defaults, composed once per verl install and kept on disk
    (`defaults_cache_path`): composing the tree costs 0.4-0.6 s on every dry run otherwise."""
    path = defaults_cache_path()
    try:
        with path.open("rb") as handle:
            cached = pickle.load(handle)
        if isinstance(cached, DictConfig):
            return cached
    except Exception:  # absent, truncated, or written by another omegaconf: compose again
        pass
    cfg = compose_verl([])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb", encoding=None) as handle:
            pickle.dump(cfg, handle)
    except OSError:  # a read-only home: validation still works, only slower
        pass
    return cfg


def defaults_cache_path() -> Path:
    """`<user cache>/verl/ppo_trainer-<key>.pickle`; the key hashes the installed verl's version,
    the bytes of every file of its config tree, and the omegaconf and hydra-core versions (the
    pickle's format), so an upgraded or edited verl never reads a stale tree."""
    digest = hashlib.sha256()
    for dist in ("verl", "omegaconf", "hydra-core"):
        digest.update(f"{dist}=={_installed_version(dist)}\n".encode())
    config_dir = verl_config_dir()
    for file in sorted(config_dir.rglob("*.yaml")):
        digest.update(f"{file.relative_to(config_dir)}\n".encode())
        digest.update(file.read_bytes())
    return user_cache_dir("verl") / f"ppo_trainer-{digest.hexdigest()[:20]}.pickle"


def _installed_version(distribution: str) -> str:
    from importlib import metadata  # here: a dry run of a paper without verl needs none

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "none"


def compose_verl(overrides: Sequence[str]) -> DictConfig:
    """verl's own `ppo_trainer` config composed with `overrides` (raises Hydra's errors)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(verl_config_dir()), version_base=None):
        return compose(config_name="ppo_trainer", overrides=list(overrides))


@lru_cache(maxsize=1)
def dead_prefixes() -> dict[str, str]:
    spec = yaml.safe_load(verl_spec_path().read_text())
    return dict(spec["dead_prefixes"])


def _parse(item: str) -> tuple[str, bool, Any]:
    simple = _parse_simple(item)
    if simple is not None:
        return simple
    override = _parser().parse_override(item)
    return override.key_or_group, item.startswith("+"), override.value()


# `key=value` with a plain key and a value of letters, digits and `_ . / : + -` only, or a flat
# list of such values: what nearly every rendered override is. Hydra's ANTLR grammar costs ~0.15 s
# to load on every dry run; these read the same (tests/harness/test_verl_fast_parse.py compares
# them with Hydra's parser) and anything else (quotes, nested lists, interpolations, sweeps,
# escapes, inf/nan, spaces) still goes to Hydra.
_SIMPLE = re.compile(
    r"(?P<plus>\+?)(?P<key>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)=(?P<value>[A-Za-z0-9_./:+,\[\]-]*)"
)
_QUOTED = re.compile(
    r"(?P<plus>\+?)(?P<key>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)='(?P<value>[^'\\$]*)'"
)
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z/][A-Za-z0-9_./:-]*")
_UNREAD = object()


def _scalar(text: str) -> Any:
    """A plain value as Hydra reads it, or _UNREAD when Hydra must decide."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and ("." in text or "e" in lowered):
        return float(text)
    if _WORD.fullmatch(text) and lowered not in ("inf", "nan"):
        return text
    return _UNREAD  # empty, leading zeros, '+' inside a word and the like


def _parse_simple(item: str) -> tuple[str, bool, Any] | None:
    """(key, '+', value) as Hydra reads a plain `key=value`; None when Hydra must read it."""
    quoted = _QUOTED.fullmatch(item)
    if quoted is not None:  # a run name: 'text' without escapes or interpolations is that text
        return quoted["key"], bool(quoted["plus"]), quoted["value"]
    match = _SIMPLE.fullmatch(item)
    if match is None:
        return None
    key, plus, text = match["key"], bool(match["plus"]), match["value"]
    if text.startswith("[") and text.endswith("]") and "[" not in text[1:-1] and "]" not in text[1:-1]:
        values = [_scalar(part) for part in text[1:-1].split(",")] if text != "[]" else []
        return None if any(v is _UNREAD for v in values) else (key, plus, values)
    value = _scalar(text) if "," not in text and "[" not in text and "]" not in text else _UNREAD
    return None if value is _UNREAD else (key, plus, value)


@lru_cache(maxsize=1)
def _parser():  # type: ignore[no-untyped-def]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def validate_verl_command(rendered: Rendered, deep: bool = False) -> list[Problem]:
    """A rendered `python3 -m verl.trainer.main_ppo ...`: verl's config tree, and with deep=True
    (when that passes) verl's own validate_config."""
    problems = check_verl_argv(rendered.argv, rendered.keys)
    if deep and not problems:
        problems += check_verl_deep(rendered.argv, rendered.keys)
    return problems


def check_verl_argv(argv: Sequence[str], keys: Mapping[str, str]) -> list[Problem]:
    """argv = ['python3', '-m', 'verl.trainer.main_ppo', key=value, ...]."""
    defaults = verl_defaults()
    given: dict[str, Any] = {}  # the overrides that compose, for the batch-size rules
    problems: list[Problem] = []
    for item in argv[3:]:
        try:
            key, plus, value = _parse(item)
        except Exception as exc:  # Hydra's grammar errors
            problems.append(Problem(item, f"not a valid Hydra override: {exc}"))
            continue
        where = keys.get(key, key)
        exists = has_key(defaults, key)
        if not plus and not exists:
            problems.append(
                Problem(where, f"verl {VERL_VERSION} has no config key '{key}'{_suggest(defaults, key)}")
            )
            continue
        if plus and exists:
            problems.append(
                Problem(where, f"'{key}' already exists in verl {VERL_VERSION}'s config; drop the '+'")
            )
            continue
        mismatch = _type_mismatch(defaults, key, value) if exists else None
        if mismatch is not None:
            problems.append(Problem(where, mismatch))
            continue
        dead = _dead_replacement(key)
        if dead is not None and value is not None:
            problems.append(
                Problem(
                    where,
                    f"'{key}' composes in verl {VERL_VERSION} but main_ppo never "
                    f"reads it (only fully_async_main migrates legacy reward keys): "
                    f"the run would silently use verl's default reward; use "
                    f"'{dead}' instead",
                )
            )
        given[key] = value
    problems += _batch_problems(_effective(defaults, given), keys)
    return problems


_BATCH_KEYS = (
    "data.train_batch_size",
    "actor_rollout_ref.actor.ppo_mini_batch_size",
    "actor_rollout_ref.actor.use_dynamic_bsz",
    "actor_rollout_ref.rollout.n",
    "trainer.n_gpus_per_node",
    "trainer.nnodes",
)


def _effective(defaults: DictConfig, given: Mapping[str, Any]) -> DictConfig:
    """verl's defaults with the overrides applied, as far as the batch-size rules read them.

    Copying verl's whole tree (~0.1 s) is only needed when an interpolation could tie these
    values to other keys; otherwise the few values they read are enough.
    """
    values = {key: given[key] if key in given else OmegaConf.select(defaults, key) for key in _BATCH_KEYS}
    raw = [given.get(key) for key in _BATCH_KEYS] + [_raw(defaults, key) for key in _BATCH_KEYS]
    if not any(isinstance(value, str) and "${" in value for value in raw) and not any(
        any(key.startswith(prefix + ".") or prefix.startswith(key + ".") for prefix in _BATCH_KEYS)
        for key in given
    ):
        small = OmegaConf.create({})
        for key, value in values.items():
            OmegaConf.update(small, key, value, force_add=True)
        return small
    effective = defaults.copy()
    OmegaConf.set_struct(effective, False)
    for key, value in given.items():
        OmegaConf.update(effective, key, value, force_add=True)
    return effective


def _raw(cfg: DictConfig, dotted: str) -> Any:
    """The value as written (an interpolation stays a string)."""
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None, throw_on_missing=False) if parent else cfg
    if not isinstance(node, DictConfig) or leaf not in node:
        return None
    return node._get_node(leaf)._value()  # type: ignore[union-attr]


# Counts verl takes as given: below 1 it trains nothing without an error (total_epochs: its fit
# loop runs range(total_epochs)) or divides by them at start-up.
_AT_LEAST_ONE = {
    "trainer.total_epochs": "verl's training loop would run no epoch",
    "data.train_batch_size": "the prompts of one step",
    "actor_rollout_ref.rollout.n": "the responses per prompt",
    "actor_rollout_ref.actor.ppo_mini_batch_size": "the prompts of one optimizer step",
    "actor_rollout_ref.actor.ppo_epochs": "the updates per batch",
    "data.max_prompt_length": "the tokens of one prompt",
    "data.max_response_length": "the tokens of one response",
}
# Values vLLM or the loss refuses or inverts, found only once the workers start: the share of each
# GPU's memory vLLM may take (above 1 it fails at start-up), and KL weights (a negative one
# rewards drifting away from the reference model).
_SHARE = ("actor_rollout_ref.rollout.gpu_memory_utilization",)
_NOT_NEGATIVE = ("actor_rollout_ref.actor.kl_loss_coef", "algorithm.kl_ctrl.kl_coef")


def _type_mismatch(defaults: DictConfig, key: str, value: Any) -> str | None:
    """Why `value` cannot be what verl's default for `key` is (a number, a flag, a list), or None.

    verl reads these values hours later, inside its workers; a string where it expects a
    number must fail here. Only clear mismatches are named: a null default, an interpolation
    or a string default accepts anything.
    """
    try:
        default = OmegaConf.select(defaults, key, default=None, throw_on_missing=False)
    except Exception:  # an interpolation verl resolves against its own runtime values
        return None
    if default is None or value is None or (isinstance(value, str) and "${" in value):
        return None
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, (list, ListConfig)):
        ok, expected = isinstance(value, (list, tuple)), "a list"
    elif isinstance(default, (dict, DictConfig)):
        ok, expected = isinstance(value, dict), "a mapping"
    else:
        return None
    if ok and key.rsplit(".", 1)[-1] in ("lr", "learning_rate") and value < 0:
        return f"a learning rate must not be negative, got {value!r}"
    if ok and key in _AT_LEAST_ONE and value < 1:
        return f"must be at least 1, got {value!r} ({_AT_LEAST_ONE[key]})"
    if ok and key in _SHARE and not is_gpu_share(value):
        return f"{GPU_SHARE_RULE}, got {value!r}"
    if ok and key in _NOT_NEGATIVE and value < 0:
        return f"must be 0 or more, got {value!r}"
    if ok:
        return None
    return f"verl {VERL_VERSION} expects {expected} for '{key}' (its default is {default!r}), got {value!r}"


def verl_section_problems(stage: str, trainer_args: Mapping[str, Any]) -> list[Problem]:
    """Each section of verl's config (a mapping in its defaults) the stage gives a scalar, a list or
    null (`stages.grpo.data=5`): planning reads those sections (the reward schedule's steps, the
    pre-flight, the vLLM checks) before the rendered command is validated, and failed on them."""
    defaults = verl_defaults()
    problems: list[Problem] = []

    def walk(given: Mapping[str, Any], where: str) -> None:
        for key, value in given.items():
            dotted = f"{where}.{key}" if where else str(key)
            try:
                default = OmegaConf.select(defaults, dotted, default=None, throw_on_missing=False)
            except Exception:  # an interpolation verl resolves against its own runtime values
                continue
            if not isinstance(default, DictConfig):
                continue
            if isinstance(value, Mapping):
                walk(value, dotted)
            else:
                problems.append(
                    Problem(
                        f"stages.{stage}.{dotted}",
                        f"must be a mapping (a section of verl {VERL_VERSION}'s config), got {value!r}",
                    )
                )

    walk(trainer_args, "")
    return problems


def has_key(cfg: DictConfig, dotted: str) -> bool:
    """The key exists (a mandatory '???' value counts: select() would hide it)."""
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None, throw_on_missing=False) if parent else cfg
    return isinstance(node, DictConfig) and leaf in node.keys()


def _dead_replacement(key: str) -> str | None:
    for prefix in sorted(dead_prefixes(), key=len, reverse=True):
        if key == prefix or key.startswith(prefix + "."):
            return dead_prefixes()[prefix] + key[len(prefix) :]
    return None


def _suggest(cfg: DictConfig, key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    if isinstance(node, DictConfig):
        return did_you_mean(leaf, [str(k) for k in node.keys()])
    return ""


def _batch_problems(cfg: DictConfig, keys: Mapping[str, str]) -> list[Problem]:
    """The batch-size rules verl's validate_config and ActorConfig.validate enforce at start."""
    actor = cfg.actor_rollout_ref.actor
    if actor.get("use_dynamic_bsz"):
        return []
    problems: list[Problem] = []
    train = int(cfg.data.train_batch_size)
    mini = int(actor.ppo_mini_batch_size)
    n = int(cfg.actor_rollout_ref.rollout.n)
    n_gpus = int(cfg.trainer.n_gpus_per_node) * int(cfg.trainer.nnodes)
    mini_key = keys.get(
        "actor_rollout_ref.actor.ppo_mini_batch_size", "actor_rollout_ref.actor.ppo_mini_batch_size"
    )
    train_key = keys.get("data.train_batch_size", "data.train_batch_size")
    if train < mini:
        problems.append(
            Problem(
                mini_key,
                f"verl {VERL_VERSION} rejects data.train_batch_size ({train}) < "
                f"actor_rollout_ref.actor.ppo_mini_batch_size ({mini}) "
                f"(ActorConfig.validate); lower the mini batch or raise "
                f"{train_key}",
            )
        )
    if n_gpus > 0 and (train * n) % n_gpus != 0:
        problems.append(
            Problem(
                train_key,
                f"verl {VERL_VERSION} needs data.train_batch_size x rollout.n "
                f"({train} x {n}) divisible by the {n_gpus} GPUs "
                f"(validate_config)",
            )
        )
    return problems


def check_verl_deep(argv: Sequence[str], keys: Mapping[str, str]) -> list[Problem]:
    """Compose with verl's Hydra for real and run verl's own validate_config (subprocess)."""
    overrides = list(argv[3:])
    proc = subprocess.run(
        [sys.executable, "-m", "harness.validate.verl_deep"],
        input=json.dumps(overrides),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        return [Problem("verl", f"verl's own config check could not run: {proc.stderr.strip()[-2000:]}")]
    problems = []
    for item in json.loads(proc.stdout.strip().splitlines()[-1]):
        key = item.get("key") or ""
        problems.append(Problem(keys.get(key, key) if key else "verl", item["message"]))
    return problems
