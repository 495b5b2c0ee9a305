"""SFT can be LoRA or full (002 App. E.2 "No-LoRA"): ``stages.sft.tuner_type=full`` reaches the
rendered `swift sft` and ms-swift accepts it (the committed parser snapshot fast, the installed
ms-swift's own HfArgumentParser slow)."""

from __future__ import annotations

import pytest

from .conftest import plan_for


def _sft(*overrides: str):
    return plan_for("fakexplain", *overrides).stage("sft")


def _flag(argv, flag: str) -> str:
    argv = list(argv)
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("tuner", ["lora", "full"])
def test_tuner_type_reaches_swift_sft_and_passes_the_parser_snapshot(tuner):
    stage = _sft(f"stages.sft.tuner_type={tuner}")
    assert _flag(stage.rendered.argv, "--tuner_type") == tuner
    assert stage.stage_kind.check(stage.rendered) == []


def test_the_recipe_default_is_lora():
    assert _flag(_sft().rendered.argv, "--tuner_type") == "lora"  # 002 App. A.2 "LoRA SFT stage"


@pytest.mark.slow
def test_the_installed_ms_swift_parser_reads_full_tuning():
    from .test_real_trainers import _swift_parser

    argv = list(_sft("stages.sft.tuner_type=full").rendered.argv)
    namespace, unknown = _swift_parser("sft").parse_known_args(argv[2:])
    assert unknown == [] and namespace.tuner_type == "full"
