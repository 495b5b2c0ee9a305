"""The rendered commands against the installed trainers themselves (slow: imports ms-swift/verl).

- every `swift` command of every paper is accepted by ms-swift 4.6's own HfArgumentParser;
- every verl command's overrides compose with Hydra against verl 0.9.1's own config tree, and
  verl's own validate_config accepts the pinned recipes and rejects the seed's batch sizes;
- the committed parser snapshot the fast path uses equals the installed ms-swift's.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache

import pytest

from harness.plan import Plan

from .conftest import PAPERS, compose_paper, load_published, plan_for
from .published import parse_verl_argv

pytestmark = pytest.mark.slow


def _plans() -> list[Plan]:
    plans = []
    for paper in PAPERS:
        cfg = compose_paper(paper)
        variants = list(cfg.variants) if cfg.get("variants") is not None else [None]
        for variant in variants:
            plans.append(plan_for(paper, *([f"variant={variant}"] if variant else [])))
    # a backbone only ms-swift trains (002 Table 7 InternVL-2.5): its SFT and GRPO commands
    plans.append(plan_for("fakexplain", "model=internvl2_5_26b", "variant=staged_swift"))
    return plans


@cache
def _swift_parser(command: str):  # type: ignore[no-untyped-def]
    from swift.arguments import ExportArguments, RLHFArguments, SftArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    cls = {"sft": SftArguments, "rlhf": RLHFArguments, "export": ExportArguments}[command]
    with _patch_get_type_hints():
        parser = HfArgumentParser([cls])
    parser.allow_abbrev = False  # ms-swift would accept unique prefixes; the recipes must not rely on it
    return parser


def _swift_commands() -> list[tuple[str, list[str]]]:
    return [
        (f"{plan.paper}/{plan.cfg.get('variant')}/{s.name}", list(s.rendered.argv))
        for plan in _plans()
        for s in plan.stages
        if s.rendered.argv[0] == "swift"
    ]


def test_every_swift_command_is_accepted_by_the_installed_ms_swift_parser() -> None:
    commands = _swift_commands()
    assert len(commands) >= 8
    for where, argv in commands:
        parser = _swift_parser(argv[1])
        namespace, unknown = parser.parse_known_args(argv[2:])
        assert unknown == [], f"{where}: ms-swift does not know {unknown}"
        if "--learning_rate" in argv:
            assert isinstance(namespace.learning_rate, float), where  # types really convert


def test_the_real_parser_rejects_what_the_fast_check_rejects() -> None:
    parser = _swift_parser("sft")
    _, unknown = parser.parse_known_args(["--train_type", "full", "--model", "/m"])
    assert unknown == ["--train_type", "full"]
    with pytest.raises(SystemExit):
        parser.parse_known_args(["--lora_rank", "sixteen"])


def test_parser_snapshot_matches_the_installed_ms_swift() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.trainer_specs.generate", "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def _verl_commands() -> list[tuple[str, list[str]]]:
    return [
        (f"{plan.paper}/{plan.cfg.get('variant')}/{s.name}", list(s.rendered.argv))
        for plan in _plans()
        for s in plan.stages
        if s.rendered.argv[2:3] == ("verl.trainer.main_ppo",)
    ]


def test_every_verl_command_composes_against_the_installed_verl_config() -> None:
    from omegaconf import OmegaConf

    from harness.validate.verl_overrides import compose_verl

    commands = _verl_commands()
    assert len(commands) >= 5
    for where, argv in commands:
        cfg = compose_verl(argv[3:])
        for key, value in parse_verl_argv(argv[3:]).items():
            assert OmegaConf.select(cfg, key) == value, f"{where}: {key}"
        # The custom reward lands where main_ppo reads it (verl/trainer/ppo/reward.py).
        assert cfg.reward.custom_reward_function.path.endswith(".py"), where
        assert cfg.custom_reward_function.path is None, where


def test_a_renamed_key_fails_verl_composition() -> None:
    from hydra.errors import ConfigCompositionException

    from harness.validate.verl_overrides import compose_verl

    with pytest.raises(ConfigCompositionException):
        compose_verl(["actor_rollout_ref.rollout.limit_images=2"])


def test_verls_own_validate_config_accepts_the_pinned_recipes() -> None:
    from harness.validate.verl_overrides import check_verl_deep

    checked = 0
    for paper in PAPERS:
        for planned in plan_for(paper).stages:
            if planned.kind == "verl_grpo":
                rendered = planned.rendered
                assert check_verl_deep(list(rendered.argv), rendered.keys) == [], (paper, planned.name)
                checked += 1
    assert checked


def test_verls_own_validate_config_rejects_the_seeds_batch_sizes() -> None:
    from harness.plan import build_plan
    from harness.validate.verl_overrides import check_verl_deep

    plan = build_plan(load_published("fake_hr1", "dialect/verl=verl_0_9_1"), run_name="x")
    rendered = plan.stage("grpo").rendered
    problems = [str(p) for p in check_verl_deep(list(rendered.argv), rendered.keys)]
    assert len(problems) == 1
    assert "train_batch_size (32) must be >= actor.ppo_mini_batch_size (128)" in problems[0]


def test_legacy_reward_keys_compose_but_main_ppo_never_migrates_them() -> None:
    """The fact behind the dead-key check (harness/trainer_specs/verl-0.9.1.yaml)."""
    from harness.validate.verl_overrides import compose_verl, verl_package_dir

    cfg = compose_verl(["custom_reward_function.path=/x/reward.py", "custom_reward_function.name=f"])
    assert cfg.custom_reward_function.path == "/x/reward.py"
    assert cfg.reward.custom_reward_function.path is None
    root = verl_package_dir()
    callers = [
        p
        for p in root.rglob("*.py")
        if "migrate_legacy_reward_impl(" in p.read_text(errors="ignore")
        and "def migrate_legacy_reward_impl" not in p.read_text(errors="ignore")
    ]
    assert [p.relative_to(root).as_posix() for p in callers] == [
        "experimental/fully_async_policy/fully_async_main.py"
    ]
    assert 'config.reward.get("custom_reward_function")' in (root / "trainer/ppo/reward.py").read_text()
