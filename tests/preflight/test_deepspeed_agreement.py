"""ZeRO model states per GPU and in host RAM agree with DeepSpeed's own estimators (deepspeed 0.19.8,
installed by `make install`: its sdist builds without a compiler and imports on a CPU)."""

from __future__ import annotations

import re

import pytest

from harness.preflight.architecture import parse_architecture
from harness.preflight.memory import ZeroSetting, deepspeed_model_states, zero_setting

from .conftest import MODELS, model_config_json

pytestmark = pytest.mark.slow  # imports deepspeed and torch
TOPOLOGIES = [(8, 1), (16, 1), (8, 2), (1, 1)]  # (GPUs per node, nodes)


@pytest.fixture(scope="module")
def estimators():
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    return estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs


def _within(ours: int, theirs: int, tolerance: float = 0.05) -> bool:
    return abs(ours - theirs) <= tolerance * max(theirs, 1)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("gpus,nodes", TOPOLOGIES)
def test_full_training_matches_deepspeed(estimators, name: str, gpus: int, nodes: int) -> None:
    zero2, zero3 = estimators
    arch = parse_architecture(model_config_json(name), name)
    total, largest = arch.total_params, arch.largest_layer_params
    for offload in (False, True):
        ours_gpu, ours_host, _ = deepspeed_model_states(
            total, total, largest, ZeroSetting(2, offload_optimizer=offload), gpus, nodes
        )
        theirs_host, theirs_gpu = zero2(total, num_gpus_per_node=gpus, num_nodes=nodes, cpu_offload=offload)
        assert _within(ours_gpu, theirs_gpu), ("zero2", offload, ours_gpu, theirs_gpu)
        if offload:
            assert _within(ours_host, theirs_host), ("zero2 host", ours_host, theirs_host)
    for offload_opt, offload_param in ((False, False), (True, False), (True, True)):
        setting = ZeroSetting(3, offload_optimizer=offload_opt, offload_param=offload_param)
        ours_gpu, ours_host, _ = deepspeed_model_states(total, total, largest, setting, gpus, nodes)
        theirs_host, theirs_gpu, _ = zero3(
            total,
            largest,
            num_gpus_per_node=gpus,
            num_nodes=nodes,
            cpu_offload=offload_opt,
            cpu_offload_params=offload_param,
        )
        assert _within(ours_gpu, theirs_gpu), ("zero3", setting, ours_gpu, theirs_gpu)
        if offload_opt:
            assert _within(ours_host, theirs_host), ("zero3 host", setting, ours_host, theirs_host)


def test_the_all_cold_reports_print_the_same_per_gpu_figure(estimators, capsys) -> None:
    """The estimators the issue names print a table; its per-GPU column agrees too."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs_all_cold
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs_all_cold

    arch = parse_architecture(model_config_json("qwen2_5_vl_32b"), "32b")
    total, largest = arch.total_params, arch.largest_layer_params
    estimate_zero2_model_states_mem_needs_all_cold(total_params=total, num_gpus_per_node=8, num_nodes=1)
    estimate_zero3_model_states_mem_needs_all_cold(
        total_params=total, largest_layer_params=largest, num_gpus_per_node=8, num_nodes=1
    )
    printed = capsys.readouterr().out
    rows = re.findall(r"([\d.]+)GB \|\s+([\d.]+)GB \| (.*)", printed)
    by_option = {option.strip(): float(gpu) * 2**30 for _, gpu, option in rows}
    ours2, _, _ = deepspeed_model_states(total, total, largest, ZeroSetting(2), 8, 1)
    ours3, _, _ = deepspeed_model_states(total, total, largest, ZeroSetting(3), 8, 1)
    assert _within(ours2, by_option["offload_optimizer=none"])
    assert _within(ours3, by_option["offload_param=none, offload_optimizer=none, zero_init=1"])
    assert ours2 / 2**30 > 80 > ours3 / 2**30  # a 32B under ZeRO-2 cannot fit an 80 GB GPU at all


def test_ms_swift_presets_map_to_zero_settings() -> None:
    assert zero_setting("zero2") == ZeroSetting(2)
    assert zero_setting("zero3_offload") == ZeroSetting(3, offload_optimizer=True, offload_param=True)
    assert zero_setting("zero2_offload") == ZeroSetting(2, offload_optimizer=True)
    assert zero_setting(None) == ZeroSetting(0, deepspeed=False)
    assert zero_setting("/path/to/ds.json") is None
