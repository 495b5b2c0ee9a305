"""Defaults in one place: the conf/ files state only what differs from what they start from.

- conf/cluster/<launcher>.yaml starts from launch.config.ClusterConfig (Hydra schema `_schema`);
- conf/eval/_base.yaml from harness.evaluation.config.EvalConfig, conf/eval/<paper>.yaml from _base;
- conf/profile_paper/<profile>_<paper>.yaml from the paper's full recipe.

A value equal to the one inherited is a restated default that could drift from its source, so
these tests fail on it, naming the key. The dataclasses are the only copy of the cluster and eval
defaults: composing a group gives exactly what the program parses from the file's own values.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import DictConfig, OmegaConf

from common.parse import to_mapping
from harness.config import CONF_DIR, compose
from harness.config_schemas import schema_of
from harness.evaluation.config import EvalConfig, parse_eval_config
from launch.config import ClusterConfig, parse_cluster

from .conftest import PAPERS

CLUSTERS = sorted(p.stem for p in (CONF_DIR / "cluster").glob("*.yaml"))
OVERLAYS = sorted(p.stem for p in (CONF_DIR / "profile_paper").glob("*.yaml"))


def _profile_and_paper(overlay: str) -> tuple[str, str]:
    """`gpu_smoke_fakexplain` -> (`gpu_smoke`, `fakexplain`): profile names may hold underscores."""
    papers = sorted((p.stem for p in (CONF_DIR / "paper").glob("*.yaml")), key=len, reverse=True)
    paper = next(p for p in papers if overlay.endswith("_" + p))
    return overlay[: -len(paper) - 1], paper


def _own_values(path: Path) -> tuple[list[Any], dict[str, Any]]:
    """A config file's defaults list and its own values."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data.pop("defaults", []), data


def _leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            out += _leaves(value, path)
        else:
            out.append(path)
    return out


def _without(tree: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    pruned = copy.deepcopy(tree)
    node = pruned
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return pruned


# A model's shape (its config.json) is one description: an overlay's tiny model states all of it,
# even the fields it shares with the recipe's model.
WHOLE_VALUES = {"model.config_json"}


def restated(parent: DictConfig, own: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys of `own` whose removal leaves parent + own unchanged: values equal to the inherited ones."""
    found = []
    for key, value in own.items():
        base = parent[key] if key in parent else None
        if f"{prefix}{key}" in WHOLE_VALUES:  # one object: stated whole or not at all
            if (
                OmegaConf.to_container(base, resolve=False) == value
                if isinstance(base, DictConfig)
                else base == value
            ):
                found.append(f"{prefix}{key}")
            continue
        if isinstance(value, dict) and value and isinstance(base, DictConfig):
            found += restated(base, value, f"{prefix}{key}.")
            continue
        # A leaf, or a mapping merged onto a null / missing node: try removing each of its leaves.
        whole = {key: value}
        merged = OmegaConf.to_container(OmegaConf.merge(parent, whole), resolve=False)[key]
        for path in _leaves(whole):
            less = OmegaConf.merge(parent, _without(whole, path))
            if OmegaConf.to_container(less, resolve=False).get(key) == merged:
                found.append(prefix + ".".join(path))
    return found


@functools.cache
def _composed(*overrides: str) -> DictConfig:
    return compose(list(overrides))


def _schema(cls: type) -> DictConfig:
    return OmegaConf.structured(schema_of(cls))


def test_restated_finds_a_value_equal_to_the_inherited_one() -> None:
    own = {
        "launcher": "slurm",
        "nnodes": 1,
        "gpus_per_node": 8,
        "slurm": {"requeue": True, "exclusive": True},
    }
    assert restated(_schema(ClusterConfig), own) == ["nnodes", "slurm.requeue"]


@pytest.mark.parametrize("name", CLUSTERS)
def test_cluster_files_state_only_what_differs_from_the_dataclass(name: str) -> None:
    defaults, own = _own_values(CONF_DIR / "cluster" / f"{name}.yaml")
    assert defaults == ["_schema", "_self_"]
    assert restated(_schema(ClusterConfig), own) == [], f"cluster/{name}.yaml restates ClusterConfig defaults"


@pytest.mark.parametrize("name", CLUSTERS)
def test_composed_cluster_is_what_the_launcher_parses_from_the_file(name: str, monkeypatch) -> None:
    for var in ("NNODES", "WORLD_SIZE", "NPROC_PER_NODE"):
        monkeypatch.delenv(var, raising=False)
    composed = OmegaConf.to_container(compose(["paper=fakescope", f"cluster={name}"]).cluster, resolve=True)
    _, own = _own_values(CONF_DIR / "cluster" / f"{name}.yaml")
    own = OmegaConf.to_container(OmegaConf.create(own), resolve=True)  # torchrun's ${oc.env:...}
    for key in ("nnodes", "gpus_per_node"):  # the paper sets these
        own.pop(key, None)
        composed.pop(key)
    from_file = to_mapping(parse_cluster(own))
    for key in ("nnodes", "gpus_per_node"):
        from_file.pop(key)
    assert composed == from_file
    assert to_mapping(parse_cluster(composed | {"nnodes": 1, "gpus_per_node": 8})) == composed | {
        "nnodes": 1,
        "gpus_per_node": 8,
    }


def test_eval_base_states_only_what_differs_from_the_dataclass() -> None:
    defaults, own = _own_values(CONF_DIR / "eval" / "_base.yaml")
    assert defaults == ["_schema", "_self_"]
    assert restated(_schema(EvalConfig), own) == []


@pytest.mark.parametrize("paper", PAPERS)
def test_paper_eval_files_state_only_what_differs_from_the_base(paper: str) -> None:
    path = CONF_DIR / "eval" / f"{paper}.yaml"
    assert path.read_text(encoding="utf-8").splitlines()[0] == "# @package eval"
    defaults, own = _own_values(path)
    assert defaults == ["_base", "_self_"]
    _, base = _own_values(CONF_DIR / "eval" / "_base.yaml")
    parent = OmegaConf.merge(_schema(EvalConfig), base)
    assert restated(parent, own) == [], f"eval/{paper}.yaml restates conf/eval/_base.yaml"


@pytest.mark.parametrize("paper", PAPERS)
def test_composed_eval_is_exactly_what_the_eval_program_parses(paper: str) -> None:
    composed = OmegaConf.to_container(_composed(f"paper={paper}", "profile=full").eval, resolve=True)
    assert to_mapping(parse_eval_config(composed)) == composed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_state_only_what_differs_from_the_full_recipe(overlay: str) -> None:
    profile, paper = _profile_and_paper(overlay)
    recipe = copy.deepcopy(_composed(f"paper={paper}", "profile=full"))
    OmegaConf.set_struct(recipe, False)  # an overlay adds keys (its own stages)
    defaults, own = _own_values(CONF_DIR / "profile_paper" / f"{overlay}.yaml")
    for entry in defaults:  # included files (`/data_prep/tiny_qwen2_5_vl@model`) are inherited too
        if entry == "_self_":
            continue
        target, _, package = str(entry).lstrip("/").partition("@")
        included = yaml.safe_load((CONF_DIR / f"{target}.yaml").read_text(encoding="utf-8"))
        recipe = OmegaConf.merge(recipe, {package: included})
    assert restated(recipe, own) == [], f"profile_paper/{overlay}.yaml restates the {paper} recipe"


def test_tiny_model_pixel_limits_live_in_one_file() -> None:
    """conf/data_prep/tiny_qwen2_5_vl.yaml: read by data_prep/tiny_model.py (its build is checked in
    tests/data_prep/test_tiny_model.py, which imports transformers) and included by the overlays."""
    limits = yaml.safe_load((CONF_DIR / "data_prep" / "tiny_qwen2_5_vl.yaml").read_text(encoding="utf-8"))
    builder = (CONF_DIR.parent / "data_prep" / "tiny_model.py").read_text(encoding="utf-8")
    assert 'load_yaml("tiny_qwen2_5_vl.yaml")' in builder
    assert str(limits["max_pixels"]) not in builder and "112 * 112" not in builder
    qwen = []
    for overlay in OVERLAYS:
        text = (CONF_DIR / "profile_paper" / f"{overlay}.yaml").read_text(encoding="utf-8")
        assert str(limits["max_pixels"]) not in text and str(limits["min_pixels"]) not in text
        defaults, own = _own_values(CONF_DIR / "profile_paper" / f"{overlay}.yaml")
        if own["stages"]["tiny_model"]["arch"] == "qwen2_5_vl":
            assert "/data_prep/tiny_qwen2_5_vl@model" in defaults, overlay
            qwen.append(overlay)
    assert qwen, "the smoke profiles of the Qwen2.5-VL papers build a tiny Qwen2.5-VL"
    profile, paper = _profile_and_paper(qwen[-1])
    cfg = _composed(f"paper={paper}", f"profile={profile}")
    assert (cfg.model.min_pixels, cfg.model.max_pixels) == (limits["min_pixels"], limits["max_pixels"])


def _restated_cluster_fallbacks(source: str) -> list[str]:
    """`OmegaConf.select(cfg, "cluster.<key>", default=<value>)` with a value other than None: a
    ClusterConfig default stated a second time (the composed cluster always holds every key)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("select")):
            continue
        key = next(
            (a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)), ""
        )
        default = next((k.value for k in node.keywords if k.arg == "default"), None)
        if key.startswith("cluster.") and default is not None and ast.unparse(default) != "None":
            found.append(f"{key} (default={ast.unparse(default)})")
    return found


def test_no_module_restates_a_cluster_default_as_a_fallback() -> None:
    assert _restated_cluster_fallbacks('OmegaConf.select(cfg, "cluster.nnodes", default=1) or 1') == [
        "cluster.nnodes (default=1)"
    ]
    assert _restated_cluster_fallbacks('OmegaConf.select(cfg, "cluster.python", default=None)') == []
    repo = CONF_DIR.parent
    found = {
        str(path.relative_to(repo)): hits
        for package in ("harness", "launch", "expert")
        for path in sorted((repo / package).rglob("*.py"))
        if (hits := _restated_cluster_fallbacks(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "read the cluster from parse_cluster (launch.config.ClusterConfig's defaults)"
