"""Golden tests: rendered in the seeds' own dialects, the commands carry exactly the seeds' flags.

The seeds' commands are kept verbatim in tests/published/. Flags whose values are paths are
compared by presence and count only: the harness resolves them into the run directory (the
explicit list below). Everything else must match value for value.
"""

from __future__ import annotations

import pytest

from harness.plan import build_plan

from .conftest import load_published
from .published import published_command, same_value, swift_flags, verl_overrides

# Flags/keys whose values are paths the harness resolves (seed: /path/to/..., $model_path, ...).
SWIFT_PATH_FLAGS = {"--model_id_or_path", "--model", "--dataset", "--val_dataset", "--output_dir"}
VERL_PATH_KEYS = {
    "data.train_files",
    "actor_rollout_ref.model.path",
    "trainer.default_local_dir",
    "custom_reward_function.path",
}


def _rendered(paper: str, stage: str):
    plan = build_plan(load_published(paper), run_name="golden")
    return plan.stage(stage).rendered


@pytest.mark.parametrize(
    "paper,stage,published",
    [
        ("aigi_holmes", "sft", "aigi_holmes_sft"),
        ("aigi_holmes", "dpo", "aigi_holmes_dpo"),
        ("fake_hr1", "sft", "fake_hr1_sft"),
    ],
)
def test_swift_commands_match_the_seeds(paper: str, stage: str, published: str) -> None:
    env, seed_argv = published_command(published)
    rendered = _rendered(paper, stage)
    assert list(rendered.argv[:2]) == seed_argv[:2]
    ours = swift_flags(list(rendered.argv))
    theirs = swift_flags(seed_argv)
    assert sorted(ours) == sorted(theirs), (
        f"missing: {sorted(set(theirs) - set(ours))}, extra: {sorted(set(ours) - set(theirs))}"
    )
    for flag, values in theirs.items():
        if flag in SWIFT_PATH_FLAGS:
            assert len(ours[flag]) == len(values), flag
            continue
        if flag in UNESCAPED_FLAGS:
            continue  # compared after unescaping below
        assert len(ours[flag]) == len(values) and all(same_value(a, b) for a, b in zip(ours[flag], values)), (
            f"{flag}: {ours[flag]} != {values}"
        )


def test_seed_environment_is_rendered() -> None:
    """Stage env vars of the seeds (not the cluster's) come from the recipe: SIZE_FACTOR=8."""
    env, _ = published_command("fake_hr1_sft")
    assert _rendered("fake_hr1", "sft").env["SIZE_FACTOR"] == env["SIZE_FACTOR"] == "8"


# Flags ms-swift unescapes (literal backslash-n -> newline) before using them.
UNESCAPED_FLAGS = ("--system", "--response_prefix")


def _unescape(text: str) -> str:
    # What ms-swift 4.6 does to --system and --response_prefix (TemplateArguments.__post_init__);
    # test_system_prompt_after_ms_swifts_own_unescaping runs ms-swift's code itself.
    return text.replace("\\n", "\n")


def test_fake_hr1_system_prompt_equals_the_seeds_after_unescaping() -> None:
    _, seed_argv = published_command("fake_hr1_sft")
    ours = swift_flags(list(_rendered("fake_hr1", "sft").argv))
    theirs = swift_flags(seed_argv)
    assert "\\n" in theirs["--system"][0]  # the shell kept the literal backslash-n
    for flag in UNESCAPED_FLAGS:
        assert [_unescape(v) for v in ours[flag]] == [_unescape(v) for v in theirs[flag]], flag
    assert _unescape(ours["--response_prefix"][0]) == "<think>\n"


@pytest.mark.slow
def test_system_prompt_after_ms_swifts_own_unescaping() -> None:
    from swift.arguments.base_args.template_args import TemplateArguments

    def unescape(system: str, prefix: str) -> tuple[str, str]:
        args = TemplateArguments.__new__(TemplateArguments)  # no model: only the string handling runs
        for key, value in dict(
            system=system,
            response_prefix=prefix,
            use_chat_template=None,
            truncation_strategy=None,
            disable_ignore_empty_think=True,
            template=None,
            loss_scale="default",
        ).items():
            setattr(args, key, value)
        TemplateArguments.__post_init__(args)  # ms-swift's own code path for these two flags
        return args.system, args.response_prefix

    _, seed_argv = published_command("fake_hr1_sft")
    theirs = swift_flags(seed_argv)
    ours = swift_flags(list(_rendered("fake_hr1", "sft").argv))
    assert unescape(ours["--system"][0], ours["--response_prefix"][0]) == unescape(
        theirs["--system"][0], theirs["--response_prefix"][0]
    )


def test_verl_grpo_command_matches_the_seed() -> None:
    env, seed_argv = published_command("fake_hr1_grpo")
    rendered = _rendered("fake_hr1", "grpo")
    ours = verl_overrides(list(rendered.argv))
    theirs = verl_overrides(seed_argv)
    assert sorted(ours) == sorted(theirs), (
        f"missing: {sorted(set(theirs) - set(ours))}, extra: {sorted(set(ours) - set(theirs))}"
    )
    for key, value in theirs.items():
        if key in VERL_PATH_KEYS:
            continue
        assert ours[key] == value, f"{key}: {ours[key]!r} != {value!r}"
    assert theirs["custom_reward_function.name"] == ours["custom_reward_function.name"] == "compute_score"


def test_pinned_recipe_states_the_2_6_dpo_defaults_explicitly() -> None:
    """ms-swift 2.6.1's DPO defaults (beta 0.1, sigmoid, rpo_alpha 1) and LoRA targets are spelled
    out for the pinned ms-swift 4.6, and implied (so omitted) in the 2.6 dialect."""
    from .conftest import plan_for

    pinned = swift_flags(list(plan_for("aigi_holmes").stage("dpo").rendered.argv))
    assert pinned["--beta"] == ["0.1"]
    assert pinned["--loss_type"] == ["sigmoid"]
    assert pinned["--rpo_alpha"] == ["1.0"]
    assert pinned["--rlhf_type"] == ["dpo"]
    assert pinned["--target_modules"] == ["all-linear"]
    assert pinned["--freeze_aligner"] == ["false"]
    assert pinned["--tuner_type"] == ["lora"]
    assert pinned["--deepspeed"] == ["zero2"]
    seed = swift_flags(list(_rendered("aigi_holmes", "dpo").argv))
    for flag in (
        "--beta",
        "--loss_type",
        "--rpo_alpha",
        "--rlhf_type",
        "--target_modules",
        "--freeze_aligner",
    ):
        assert flag not in seed
    assert seed["--sft_type"] == ["lora"] and seed["--deepspeed"] == ["default-zero2"]
