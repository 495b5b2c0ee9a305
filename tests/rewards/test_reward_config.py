"""conf/reward/*.yaml: composable under Hydra, valid kwargs, the reconstructed Table 1, cited numbers."""

from __future__ import annotations

import re

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rewards.fake_hr1 import check_reward_kwargs as check_hr1_kwargs
from rewards.fakexplain_weights import check_reward_kwargs
from rewards.loader import load_reward_fn

from .conftest import REPO, REWARD_CONF

REWARD_NAMES = sorted(p.stem for p in REWARD_CONF.glob("*.yaml"))


@pytest.mark.parametrize("name", REWARD_NAMES)
def test_composes_under_hydra_as_the_reward_package(name):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        cfg = compose(config_name=f"reward/{name}", overrides=[f"+paths.repo={REPO}"])
    reward = OmegaConf.to_container(cfg, resolve=True)["reward"]
    assert set(reward) >= {"path", "name", "iou_mode", "schedules"}
    assert reward["path"] == str(REPO / "rewards" / f"{name}.py")
    for kwargs in _schedules(reward["schedules"]):
        load_reward_fn(reward["path"], reward["name"], reward_kwargs=kwargs)


def _schedules(tree):
    if any(not isinstance(v, dict) for v in tree.values()):
        return [tree]
    return [leaf for v in tree.values() for leaf in _schedules(v)]


def test_iou_mode_and_eta_are_set_once_for_every_schedule():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        cfg = compose(
            config_name="reward/fakexplain",
            overrides=[f"+paths.repo={REPO}", "reward.iou_mode=matched", "reward.eta=1.3"],
        )
    schedules = _schedules(OmegaConf.to_container(cfg, resolve=True)["reward"]["schedules"])
    assert len(schedules) == 4
    assert all(s["iou_mode"] == "matched" and s["eta"] == 1.3 for s in schedules)


def test_reconstructed_table_1_ratios(fakexplain_conf):
    # seeds.md §1.3: what steers GRPO is w_iou : (label_pos + label_neg) : (format_pos + format_neg)
    ratios = {
        stage: (k["w_iou"], k["label_pos"] + k["label_neg"], k["format_pos"] + k["format_neg"])
        for stage, k in fakexplain_conf["schedules"]["staged"].items()
    }
    assert ratios == {"alpha": (1.0, 2.0, 3.0), "beta": (1.5, 3.0, 2.0), "gamma": (2.0, 1.5, 1.5)}
    alpha = fakexplain_conf["schedules"]["staged"]["alpha"]
    assert (
        alpha["format_pos"] + alpha["format_neg"] > alpha["label_pos"] + alpha["label_neg"]
    )  # format highest
    gamma = fakexplain_conf["schedules"]["staged"]["gamma"]
    assert gamma["r_base"] + gamma["label_pos"] + gamma["format_pos"] == 0.0


def test_linear_schedule_keys(fakexplain_conf):
    linear = fakexplain_conf["schedules"]["linear"]
    assert (linear["w_iou_start"], linear["w_iou_end"], linear["total_steps"]) == (0.5, 1.0, None)
    assert "w_iou" not in linear
    weights = check_reward_kwargs(linear)  # ms-swift: the adapter supplies max_steps
    assert weights.scheduled and weights.eta == 1.1
    with pytest.raises(ValueError, match="total_steps"):
        check_reward_kwargs(linear, total_steps_required=True)  # verl: the harness must fill it
    assert check_reward_kwargs({**linear, "total_steps": 300}, total_steps_required=True).total_steps == 300


def test_fake_hr1_kwargs(fake_hr1_conf):
    assert fake_hr1_conf["iou_mode"] is None
    check_hr1_kwargs(fake_hr1_conf["kwargs"])


@pytest.mark.parametrize("name", REWARD_NAMES)
def test_package_header_and_every_number_cites_its_source(name):
    text = (REWARD_CONF / f"{name}.yaml").read_text()
    assert text.startswith("# @package reward\n")
    numbered = [line for line in text.splitlines() if re.match(r"\s+\w+: -?[0-9.]+\s*(#|$)", line)]
    assert numbered
    uncited = [line for line in numbered if "#" not in line]
    assert not uncited, f"numbers without a source comment: {uncited}"
