"""Pre-flight verdicts on the real recipes: the 32B ZeRO-2 SFT does not fit an 80 GB GPU and ZeRO-3
does; each threshold also catches a deliberately broken case; problems name the stage, the figure
and the setting to change; allow_oom_risk=true lets a run proceed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import harness.preflight as preflight
from harness.plan import build_plan
from harness.preflight import FITS, NO_FIT, TIGHT, preflight_plan, preflight_problems, print_preflight
from tests.harness.conftest import load_published, plan_for


def _report(paper: str, *overrides: str):
    return preflight_plan(plan_for(paper, *overrides))


def _stage(report, name: str):
    [stage] = [s for s in report.stages if s.name == name]
    return stage


def test_32b_lora_sft_under_zero2_does_not_fit_and_the_problem_says_what_to_change() -> None:
    report = _report("fakexplain", "stages.sft.deepspeed=zero2")
    sft = _stage(report, "sft")
    assert sft.gpu_verdict(report.gpu_capacity) == NO_FIT
    weights = sft.estimate.gpu[0]
    assert weights.bytes > 62 * 2**30  # the full bf16 copy of 33.4B parameters on every GPU
    [problem] = [p for p in preflight_problems(report, machine=False) if p.key == "stages.sft"]
    text = str(problem)
    assert "does not fit" in text and "per GPU (ZeRO-2)" in text and "cluster.gpu_memory_gb is 80.0" in text
    assert "weights, gradients, optimizer" in text and "stages.sft.deepspeed (zero3, zero3_offload)" in text
    assert preflight_problems(report, allow_oom_risk=True, machine=False) == []


def test_the_pinned_recipe_uses_zero3_and_fits() -> None:
    report = _report("fakexplain")
    sft = _stage(report, "sft")
    assert sft.estimate.setting == "ZeRO-3"
    assert sft.gpu_verdict(report.gpu_capacity) == FITS
    assert not [p for p in preflight_problems(report, machine=False) if p.key == "stages.sft"]


def test_the_gpu_threshold_catches_a_smaller_gpu() -> None:
    report = _report("fakexplain", "cluster.gpu_memory_gb=24")
    assert _stage(report, "sft").gpu_verdict(report.gpu_capacity) == NO_FIT
    assert any(p.key == "stages.sft" for p in preflight_problems(report, machine=False))


def test_swift_grpo_counts_its_completions_and_a_sleeping_rollout_engine_once() -> None:
    report = _report("fakexplain", "variant=linear_swift")
    grpo = _stage(report, "grpo_swift")
    labels = [f.label for f in grpo.estimate.gpu]
    # a training sample is the prompt (max_length 8192) and its completion (2048), 2 per GPU
    assert "activations (2 x 10240 tokens)" in labels
    assert "vLLM share beyond the update's activations (asleep while it trains)" in labels
    assert grpo.gpu_verdict(report.gpu_capacity) == FITS
    # awake through the update (sleep_level 0), the same engine beside the activations does not fit
    awake = _report("fakexplain", "variant=linear_swift", "stages.grpo_swift.sleep_level=0")
    grpo_awake = _stage(awake, "grpo_swift")
    share = next(f for f in grpo_awake.estimate.gpu if f.label == "vLLM share (colocated rollouts)")
    assert share.bytes == int(0.6 * 80 * 2**30)
    assert grpo_awake.gpu_verdict(awake.gpu_capacity) == NO_FIT
    [problem] = [p for p in preflight_problems(awake, machine=False) if p.key == "stages.grpo_swift"]
    # what to change names the rollout engine's share and its sleep
    assert "largest part: vLLM share (colocated rollouts)" in str(problem)
    assert "stages.grpo_swift.vllm_gpu_memory_utilization, stages.grpo_swift.sleep_level=1" in str(problem)


def test_full_parameter_swift_grpo_counts_its_reference_model_unless_beta_is_0() -> None:
    def reference(*overrides: str):
        grpo = _stage(_report("fakexplain", "variant=linear_swift", *overrides), "grpo_swift").estimate
        return [f.bytes for f in grpo.gpu if f.label == "reference model"], grpo.total_params

    assert reference()[0] == []  # LoRA: the base weights with the adapter off are the reference
    [ref], total = reference("stages.grpo_swift.tuner_type=full")
    assert ref == 2 * total // 8  # a bf16 copy, sharded over 8 GPUs by ZeRO-3
    # no KL term, no reference model (ms-swift sets ref_model None for GRPO at beta 0)
    assert reference("stages.grpo_swift.tuner_type=full", "stages.grpo_swift.beta=0.0")[0] == []


def test_swift_grpo_rollout_engine_must_hold_one_sequence_in_its_share() -> None:
    report = _report("fakexplain", "variant=linear_swift")
    engine = _stage(report, "grpo_swift").estimate.vllm
    # the 32B's rollouts at TP 4: a quarter of the bf16 weights on each GPU, 10240 tokens
    assert engine.weights == 2 * _stage(report, "grpo_swift").estimate.total_params // 4
    assert engine.max_model_len == 10240 and engine.share == int(0.6 * 80 * 2**30)
    assert _stage(report, "grpo_swift").vllm_verdict() == FITS
    # vLLM's activations follow its batch of tokens, read from vllm_engine_kwargs when set there
    wider = _report(
        "fakexplain",
        "variant=linear_swift",
        "+stages.grpo_swift.vllm_engine_kwargs={max_num_batched_tokens:65536}",
    )
    assert _stage(wider, "grpo_swift").estimate.vllm.activations > 6 * engine.activations
    # unset, vLLM takes the model's 128000 positions: a small share cannot hold one sequence
    broken = _report(
        "fakexplain",
        "variant=linear_swift",
        "stages.grpo_swift.vllm_max_model_len=null",
        "stages.grpo_swift.vllm_gpu_memory_utilization=0.25",
    )
    grpo = _stage(broken, "grpo_swift")
    assert grpo.estimate.vllm.max_model_len == 128000
    assert "stages.grpo_swift.vllm_max_model_len is unset" in " ".join(grpo.estimate.notes)
    assert grpo.vllm_verdict() == NO_FIT
    problems = [str(p) for p in preflight_problems(broken, machine=False)]
    assert any(
        p.startswith("stages.grpo_swift.vllm_max_model_len: vLLM cannot start: one 128000-token sequence")
        and "raise stages.grpo_swift.vllm_gpu_memory_utilization" in p
        for p in problems
    )


def test_swift_grpo_sleep_level_1_keeps_the_rollout_weights_in_host_ram() -> None:
    report = _report("fakexplain", "variant=linear_swift", "cluster.host_memory_gb=96")
    grpo = _stage(report, "grpo_swift")
    [figure] = [f for f in grpo.estimate.host if f.label == "vLLM weights kept in host RAM while asleep"]
    # 8 ranks, each backing up its TP-4 quarter of the bf16 weights
    assert figure.bytes == 8 * (2 * grpo.estimate.total_params // 4)
    assert 120 * 2**30 < figure.bytes < 130 * 2**30
    [problem] = [
        str(p)
        for p in preflight_problems(report, machine=False)
        if "host RAM" in str(p) and "grpo_swift:" in str(p)
    ]
    assert problem.startswith("stages.grpo_swift: does not fit in host RAM")
    assert "or change stages.grpo_swift.sleep_level=2, stages.grpo_swift.vllm_tensor_parallel_size" in problem
    # level 2 discards the weights (ms-swift reloads them from the trained model): nothing kept
    level2 = _report(
        "fakexplain", "variant=linear_swift", "cluster.host_memory_gb=96", "stages.grpo_swift.sleep_level=2"
    )
    assert _stage(level2, "grpo_swift").estimate.host == []
    assert not [p for p in preflight_problems(level2, machine=False) if p.key == "stages.grpo_swift"]
    roomy = _report("fakexplain", "variant=linear_swift", "cluster.host_memory_gb=1024")
    assert not [p for p in preflight_problems(roomy, machine=False) if p.key == "stages.grpo_swift"]


def test_verl_lora_served_as_an_adapter_keeps_the_rollout_base_weights_in_host_ram() -> None:
    def host(*overrides: str):
        grpo = _stage(_report("fakexplain", *overrides), "grpo").estimate
        return [
            f.bytes for f in grpo.host if f.label == "vLLM base weights kept in host RAM while asleep"
        ], grpo

    assert host()[0] == []  # full weights: verl sleeps vLLM at level 2, nothing kept
    lora = "+stages.grpo.actor_rollout_ref.model.lora_rank=16"
    [kept], grpo = host(lora)
    assert kept == 8 * int(2 * grpo.total_params / 4)  # 8 ranks, TP 4
    assert host(lora, "+stages.grpo.actor_rollout_ref.model.lora.merge=true")[0] == []  # merged: level 2
    report = _report("fakexplain", lora, "cluster.host_memory_gb=64")
    [problem] = [str(p) for p in preflight_problems(report, machine=False) if p.key == "stages.grpo"]
    assert "does not fit in host RAM" in problem
    assert "or change stages.grpo.actor_rollout_ref.model.lora.merge=true" in problem


def test_fake_hr1_as_published_keeps_vllm_reserved_and_128k_tokens() -> None:
    published = preflight_plan(build_plan(load_published("fake_hr1"), run_name="x"))
    grpo = _stage(published, "grpo")
    notes = " ".join(grpo.estimate.notes)
    assert "free_cache_engine=false keeps 60% of every GPU reserved" in notes
    assert "max_model_len is unset: verl makes it the model's max_position_embeddings (128000)" in notes
    assert "max_num_batched_tokens=10240 < max_model_len 128000" in notes
    assert grpo.estimate.vllm.max_model_len == 128000
    assert grpo.gpu_verdict(published.gpu_capacity) == TIGHT  # 48 GiB of vLLM beside FSDP
    pinned = _report("fake_hr1")
    fixed = _stage(pinned, "grpo")
    assert fixed.gpu_verdict(pinned.gpu_capacity) == FITS
    assert "free_cache_engine" not in " ".join(fixed.estimate.notes)
    assert fixed.estimate.vllm.max_model_len == 10240


def test_vllm_that_cannot_hold_one_sequence_is_an_error() -> None:
    report = _report("fakexplain", "eval.vllm.gpu_memory_utilization=0.22", "eval.vllm.max_model_len=128000")
    problems = [str(p) for p in preflight_problems(report, machine=False)]
    assert any("vLLM cannot start: one 128000-token sequence needs" in p for p in problems)
    fine = _report("fakexplain")
    assert _stage(fine, "eval").vllm_verdict() == FITS


def test_host_ram_and_disk_count_only_for_the_machine_that_runs(monkeypatch) -> None:
    monkeypatch.setattr(preflight, "free_disk", lambda path: (10 * 2**30, "/runs"))
    report = _report("fakexplain")
    assert report.disk_need > 10 * 2**30
    machine = [str(p) for p in preflight_problems(report, machine=True)]
    assert any(p.startswith("paths.runs: the run's checkpoints and merged models need") for p in machine)
    assert not any(p.startswith("paths.runs") for p in preflight_problems(report, machine=False))
    stated = _report("fakexplain", "cluster.host_memory_gb=16")
    host = [str(p) for p in preflight_problems(stated, machine=False)]
    assert any("does not fit in host RAM" in p and "cluster.host_memory_gb" in p for p in host)


def test_slurm_memory_is_the_host_ram(monkeypatch) -> None:
    report = _report("fakexplain", "cluster=slurm", "cluster.slurm.mem=480G")
    assert report.host_capacity == 480 * 2**30 and report.host_source == "cluster.slurm.mem"
    unknown = _report("fakexplain", "cluster=slurm", "cluster.slurm.mem=0")
    assert unknown.host_capacity is None


def test_unset_checkpoint_limits_are_unbounded_disk() -> None:
    report = _report("fake_hr1")
    grpo = _stage(report, "grpo")
    assert grpo.estimate.disk_bytes is None and report.disk_need is None
    assert "max_actor_ckpt_to_keep is unset" in " ".join(grpo.estimate.notes)


def test_the_dry_run_prints_the_section(capsys) -> None:
    from harness.cli import main

    # exit 2: a dry run gives the real run's status for the same problem (issue 14, item 9)
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", "stages.sft.deepspeed=zero2"]) == 2
    captured = capsys.readouterr()
    assert "# pre-flight: GPU 80.0 GiB (cluster.gpu_memory_gb)" in captured.out
    assert (
        "#   sft: params 33.45B (trainable 0.15B); ZeRO-2;" in captured.out and "does not fit" in captured.out
    )
    assert "error: stages.sft: does not fit" in captured.err


def test_report_details_give_every_figure_with_its_formula() -> None:
    out = io.StringIO()
    print_preflight(_report("fakexplain"), out, details=True)
    text = out.getvalue()
    assert "4 B x largest layer + (2 B x frozen + 18 B x trainable) / N GPUs" in text
    assert "tokens x vocab x 10 B" in text and "CUDA context" in text


@pytest.mark.slow
def test_preflight_command_counts_on_the_meta_device_and_exits_1_when_a_stage_cannot_fit(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    base = [sys.executable, "-m", "harness", "paper=fakexplain", "profile=full", "preflight=true"]
    proc = subprocess.run(
        [*base, "stages.sft.deepspeed=zero2", f"paths.runs={tmp_path}", "cluster.host_memory_gb=2000"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 1, proc.stderr
    assert "exact count on the meta device (conf/model): 33,448,292,352 parameters; agrees" in proc.stdout
    assert "error: stages.sft: does not fit" in proc.stderr
