"""The keyword arguments each GRPO stage passes to its reward are checked before launch.

verl merges `reward.custom_reward_function.reward_kwargs` into every `compute_score` call, and
ms-swift's adapter passes `reward_fn.kwargs`; a value the reward refuses (`reward.eta=-5`, a typo
in `reward.disabled_terms`) failed at the first reward call, on the GPU node, after the model
loaded and the first rollouts ran. Validation now asks the reward file itself (its
`check_reward_kwargs`, and whether the kwargs bind to the function) for every stage that scores,
in real runs and in dry runs where the file is on this machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT
from harness.plan import build_plan
from harness.validate import validate_plan

from .conftest import compose_paper


def _problems(paper: str, *overrides: str) -> list[str]:
    plan = build_plan(compose_paper(paper, *overrides), run_name="r")
    return [str(p) for p in validate_plan(plan, check_paths=False) if p.key.startswith("reward")]


@pytest.mark.parametrize(
    ("paper", "overrides"),
    [
        ("fakexplain", ()),
        ("fakexplain", ("variant=staged",)),
        ("fakexplain", ("variant=staged_swift",)),
        ("fake_hr1", ()),
    ],
)
def test_the_recipes_kwargs_pass(paper: str, overrides: tuple[str, ...]) -> None:
    assert _problems(paper, *overrides) == []


@pytest.mark.parametrize(
    ("overrides", "message", "stages"),
    [
        (("reward.eta=-5",), "reward_kwargs.eta: must be > 0, got -5.0", "[stage grpo]"),
        (
            ("variant=staged_swift", "reward.disabled_terms=[formatt]"),
            "reward_kwargs.disabled_terms: unknown term 'formatt' (did you mean: format?)",
            "[stages grpo_swift_alpha, grpo_swift_beta, grpo_swift_gamma]",
        ),
        (
            ("variant=staged", "reward.iou_mode=foo"),
            "reward_kwargs.iou_mode: must be one of 'union', 'matched', got 'foo'",
            "[stages grpo_alpha, grpo_beta, grpo_gamma]",
        ),
    ],
)
def test_a_value_the_reward_refuses_is_one_problem_naming_its_stages(
    overrides: tuple[str, ...], message: str, stages: str
) -> None:
    """verl stages and ms-swift GRPO stages alike; the same refusal in several stages is one line."""
    (problem,) = _problems("fakexplain", *overrides)
    assert problem.startswith("reward: reward kwargs for compute_score in ") and message in problem
    assert problem.endswith(stages), problem


def test_a_users_reward_that_takes_no_kwargs_is_refused(tmp_path: Path) -> None:
    """A verl-style function without **kwargs cannot take the recipe's weights: named before launch."""
    reward = tmp_path / "mine.py"
    reward.write_text(
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None):\n    return 0.0\n"
    )
    (problem,) = _problems("fakexplain", f"reward.path={reward}")
    assert (
        "cannot be called as fn(data_source=..., solution_str=..., ground_truth=..., extra_info=...) plus "
        in (problem)
    )
    assert "'eta'" in problem and problem.endswith("[stage grpo]")


def test_a_users_own_check_is_asked_with_each_stages_kwargs(tmp_path: Path) -> None:
    reward = tmp_path / "mine.py"
    reward.write_text(
        "def check_reward_kwargs(kwargs):\n"
        "    if kwargs.get('w_iou', 0) > 1.2:\n"
        "        raise ValueError(f\"w_iou {kwargs['w_iou']} is more than this reward allows\")\n"
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):\n"
        "    return 0.0\n"
    )
    # alpha's w_iou is 1.0: only beta (1.5) and gamma (2.0) are refused, each with its own value
    assert _problems("fakexplain", "variant=staged_swift", f"reward.path={reward}") == [
        f"reward: reward kwargs for compute_score in {reward}: w_iou 1.5 is more than this reward allows "
        "[stage grpo_swift_beta]",
        f"reward: reward kwargs for compute_score in {reward}: w_iou 2.0 is more than this reward allows "
        "[stage grpo_swift_gamma]",
    ]


def test_a_dry_run_with_another_machines_reward_path_checks_nothing_a_run_does(tmp_path: Path) -> None:
    assert _problems("fakexplain", "reward.path=/elsewhere/reward.py") == []
    plan = build_plan(compose_paper("fakexplain", "reward.path=/elsewhere/reward.py"), run_name="r")
    (problem,) = [p for p in validate_plan(plan, check_paths=True) if p.key.startswith("reward")]
    assert problem.key == "reward.path" and "/elsewhere/reward.py does not exist" in problem.message


def test_the_cli_refuses_the_dry_run_before_printing_a_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "paper=fakexplain", "profile=full", "dry_run=true", "reward.eta=-5"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error: reward: reward kwargs for compute_score in " in proc.stderr
    assert "reward_kwargs.eta: must be > 0, got -5.0 [stage grpo]" in proc.stderr


def test_kwargs_errors_import_the_file_once(tmp_path: Path) -> None:
    from rewards.loader import reward_kwargs_errors

    counter = tmp_path / "imports.txt"
    reward = tmp_path / "counted.py"
    reward.write_text(
        f"open({str(counter)!r}, 'a').write('x')\n"
        "def check_reward_kwargs(kwargs):\n"
        "    if 'bad' in kwargs:\n"
        "        raise ValueError('bad is not a weight')\n"
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):\n"
        "    return 0.0\n"
    )
    errors = reward_kwargs_errors(reward, "compute_score", [{"a": 1}, {"bad": 1}, {}])
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and errors[1].endswith("bad is not a weight")
    assert counter.read_text() == "x"
