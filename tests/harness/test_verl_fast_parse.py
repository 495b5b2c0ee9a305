"""The dry run reads plain `key=value` verl overrides without Hydra's ANTLR parser; what it reads
must be what Hydra reads, and everything else must still go to Hydra."""

from __future__ import annotations

import math

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.config import compose
from harness.plan import build_plan
from harness.validate.verl_overrides import _effective, _parse_simple, check_verl_argv, verl_defaults
from tests.conftest import PAPERS

PLAIN = [
    "data.train_batch_size=512",
    "+data.extra=7",
    "trainer.total_epochs=0",
    "x.lr=1e-6",
    "x.lr=1E-6",
    "x.lr=1.0e+3",
    "x.lr=-0.5",
    "x.lr=+3",
    "x.lr=.5",
    "x.lr=5.",
    "x.lr=-7",
    "x.flag=true",
    "x.flag=False",
    "x.flag=TRUE",
    "x.none=null",
    "x.none=NULL",
    "x.name=vllm",
    "x.name=true_ish",
    "x.name=nullable",
    "x.name=Qwen/Qwen2.5-VL-7B-Instruct",
    "x.path=/abs/path/to/file.parquet",
    "x.path=/abs/path:with:colons",
    "x.name=a-b_c.d",
    "x.name=e5",
    "x.name=info",
    "x.name=nan_guard",
    "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0.1",
    "x.list=[]",
    "x.list=[console,file]",
    "x.list=[/a/b.parquet,/c/d.parquet]",
    "+x.list=[1,2.5,true,null,word]",
    "x.v='quoted'",
    "trainer.experiment_name='20261202-121712-grpo'",
    "x.v='a b, c=[d]'",
    "x.v=''",
]
HYDRA_ONLY = [
    "x.v=",
    "x.v=inf",
    "x.v=-inf",
    "x.v=nan",
    "x.v=0755",
    "x.v=1_000",
    "x.v=a+b",
    "x.v=[1,[2]]",
    "x.v=[a,]",
    "x.v=[,a]",
    "x.v=[a,inf]",
    "x.v=[a",
    "x.v=a]",
    "x.v=[a]b",
    "x.v={a:1}",
    "x.v=${oc.env:HOME}",
    "x.v='${oc.env:HOME}'",
    "x.v='it\\'s'",
    "x.v='a'b'",
    "x.v=a,b",
    "x.v=a b",
    "x.v=-",
    "x.v=5-6",
    "~x.v",
    "x.v@pkg=a",
    "++x.v=1",
    "x.v=\\escaped",
]


def _hydra(item: str) -> tuple[str, bool, object]:
    override = OverridesParser.create().parse_override(item)
    return override.key_or_group, item.startswith("+"), override.value()


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("item", PLAIN)
def test_plain_overrides_read_as_hydra_reads_them(item: str) -> None:
    fast = _parse_simple(item)
    assert fast is not None, f"{item} should take the fast path"
    hydra = _hydra(item)
    assert fast[:2] == hydra[:2] and _same(fast[2], hydra[2]), (fast, hydra)


@pytest.mark.parametrize("item", HYDRA_ONLY)
def test_anything_else_goes_to_hydra(item: str) -> None:
    assert _parse_simple(item) is None


@pytest.mark.parametrize("paper", PAPERS)
def test_every_rendered_verl_override_reads_as_hydra_reads_it(paper: str) -> None:
    for profile in ("full", "smoke"):
        plan = build_plan(compose([f"paper={paper}", f"profile={profile}"]), run_name="p", launch=False)
        for stage in plan.stages:
            argv = list(stage.rendered.argv)
            if argv[1:3] != ["-m", "verl.trainer.main_ppo"]:
                continue
            for item in argv[3:]:
                fast = _parse_simple(item)
                if fast is not None:
                    hydra = _hydra(item)
                    assert fast[:2] == hydra[:2] and _same(fast[2], hydra[2]), (paper, item, fast, hydra)


def test_batch_rules_see_interpolated_overrides() -> None:
    """An override whose value ties a batch size to another key still goes through verl's whole tree."""
    argv = [
        "python3",
        "-m",
        "verl.trainer.main_ppo",
        "data.train_batch_size=8",
        "actor_rollout_ref.actor.ppo_mini_batch_size=${data.train_batch_size}",
    ]
    assert check_verl_argv(argv, {}) == []
    argv[-1] = "actor_rollout_ref.actor.ppo_mini_batch_size=16"
    [problem] = check_verl_argv(argv, {})
    assert "data.train_batch_size (8) < actor_rollout_ref.actor.ppo_mini_batch_size (16)" in problem.message
    effective = _effective(verl_defaults(), {"data.train_batch_size": 8, "trainer.nnodes": 2})
    assert effective.data.train_batch_size == 8 and effective.trainer.nnodes == 2
    assert effective.trainer.n_gpus_per_node == verl_defaults().trainer.n_gpus_per_node


@pytest.mark.parametrize("paper", PAPERS)
def test_the_dry_run_never_needs_hydras_parser_for_a_rendered_override(paper: str) -> None:
    """Loading Hydra's grammar costs ~0.15 s of a dry run: every override the recipes render
    (tracking's quoted run names included) takes the fast path."""
    for profile in ("full", "smoke"):
        plan = build_plan(compose([f"paper={paper}", f"profile={profile}"]), run_name="p", launch=False)
        for stage in plan.stages:
            argv = list(stage.rendered.argv)
            if argv[1:3] == ["-m", "verl.trainer.main_ppo"]:
                assert [item for item in argv[3:] if _parse_simple(item) is None] == [], (paper, stage.name)
