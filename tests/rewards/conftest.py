"""Shared helpers of the reward tests: response builders and the resolved reward configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import harness.config  # noqa: F401  registers the ${reward_file:<name>} resolver conf/reward/*.yaml use

REPO = Path(__file__).resolve().parents[2]
REWARD_CONF = REPO / "conf" / "reward"


def region(box, label="six fingers on the left hand") -> str:
    return json.dumps({"bbox_2d": list(box), "label": label})


def fakexplain_response(boxes=(), verdict="fake", tags="Texture errors") -> str:
    regions = ", ".join(region(b) for b in boxes)
    return f"<think>Suspicious regions: {regions}.</think>\n<tag>{tags}</tag>\n<verdict>{verdict}</verdict>"


def ground_truth(label="fake", boxes=()) -> str:
    return json.dumps({"label": label, "boxes": [list(b) for b in boxes]})


def load_reward_conf(name: str) -> dict:
    """conf/reward/<name>.yaml resolved as the harness composes it (package ``reward``)."""
    cfg = OmegaConf.create(
        {"paths": {"repo": str(REPO)}, "reward": OmegaConf.load(REWARD_CONF / f"{name}.yaml")}
    )
    return OmegaConf.to_container(cfg, resolve=True)["reward"]


@pytest.fixture(scope="session")
def fakexplain_conf() -> dict:
    return load_reward_conf("fakexplain")


@pytest.fixture(scope="session")
def fake_hr1_conf() -> dict:
    return load_reward_conf("fake_hr1")


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL folder (tokenizer trained with `tokenizers`, no hub), built by
    data_prep's builder, which also installs the CPU compatibility patches (no torchvision)."""
    from data_prep.tiny_model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny_qwen") / "model")
