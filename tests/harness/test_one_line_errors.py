"""Every error a user can cause is one `error:` line with exit status 2, in a dry run and a real
run alike, and a refused command leaves nothing behind (issue 14 items 9 and 10, the parts owned
by the run directory; launch-config errors are covered by test_cli_errors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.config import available
from tests.conftest import PAPERS


def _lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    captured = capsys.readouterr()
    return captured.err.strip().splitlines(), captured.out


@pytest.mark.parametrize("dry_run", ["true", "false"])
@pytest.mark.parametrize(
    "override, line",
    [
        ("cluster=_base", "error: cluster: unknown cluster '_base'; available: local, slurm, torchrun"),
        ("model=null", "error: model: choose one; available: internvl2_5_26b, "),
        (
            "reward=foo",
            "error: reward: unknown reward 'foo'; available: fake_hr1, fakexplain",
        ),  # was Hydra's 9 lines
        (
            "eval=null",
            f"error: eval: choose one; available: {', '.join(sorted(PAPERS))}",
        ),  # a traceback
        ("run_name=" + "x" * 300, "error: run_name: 'xxxxxxxx"),
        ("from_stage=sfx", "error: from_stage: no stage 'sfx' in this pipeline (did you mean: sft?)"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    override: str, line: str, dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["paper=fakescope", "profile=smoke", f"paths.runs={tmp_path}", f"dry_run={dry_run}", override]
    )
    lines, _ = _lines(capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(line), lines
    assert list(tmp_path.iterdir()) == []


def test_parts_of_a_config_group_are_not_options() -> None:
    assert "_base" not in available("cluster") and "local" in available("cluster")


def test_an_unwritable_run_directory_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["paper=fakescope", "profile=smoke", "paths.runs=/proc/no-runs-here", "stages=[tiny_model]"])
    lines, _ = _lines(capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot create the run directory /proc/no-runs-here/"
    )
    assert lines[0].endswith("; choose a writable paths.runs")


def test_a_dry_run_of_a_subset_prints_only_those_stages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper=fakescope", "profile=smoke", "dry_run=true", "stages=[sft,eval]"]) == 0
    _, out = _lines(capsys)
    assert [line for line in out.splitlines() if line.startswith("# stage:")] == [
        "# stage: sft",
        "# stage: eval",
    ]


@pytest.mark.parametrize(
    "override, line",
    [
        (
            "stages.grpo.actor_rollout_ref.actor.optim.lr=abc",
            "error: stages.grpo.actor_rollout_ref.actor.optim.lr: verl 0.9.1 expects a number for "
            "'actor_rollout_ref.actor.optim.lr' (its default is 1e-06), got 'abc'",
        ),
        (
            "stages.grpo.actor_rollout_ref.actor.optim.lr=-1e-6",
            "error: stages.grpo.actor_rollout_ref.actor.optim.lr: a learning rate must not be negative, got -1e-06",
        ),
        (
            "stages.grpo.trainer.total_epochs=[1,2]",
            "error: stages.grpo.trainer.total_epochs: verl 0.9.1 expects a number for 'trainer.total_epochs'",
        ),
        (
            "stages.grpo.actor_rollout_ref.rollout.enforce_eager=maybe",
            "error: stages.grpo.actor_rollout_ref.rollout.enforce_eager: verl 0.9.1 expects true or false",
        ),
    ],
)
def test_verl_values_of_the_wrong_type_are_refused_before_launch(
    override: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["paper=fake_hr1", "profile=full", "dry_run=true", override]) == 2
    lines, _ = _lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(line), lines


# ----- issue 14 item 9: launch-config errors, in a dry run and a real run alike ------------------


def _refused_in_one_line(
    overrides: list[str], line: str, dry_run: str, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FakeXplain's smoke run scores with a reward file: a refused command does not copy it in."""
    code = main(["paper=fakexplain", "profile=smoke", f"paths.runs={runs}", f"dry_run={dry_run}", *overrides])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith(line), lines
    assert "Traceback" not in captured.err + captured.out
    assert list(runs.iterdir()) == []


@pytest.mark.parametrize("dry_run", ["true", "false"])
@pytest.mark.parametrize(
    "overrides, line",
    [
        (["cluster.nnodes=0"], "error: cluster.nnodes: must be >= 1, got 0"),
        (["cluster.nnodes=-1"], "error: cluster.nnodes: must be >= 1, got -1"),
        # Hydra says only "Error merging override cluster.nnodes=1.5"; the reason is its cause's
        (
            ["cluster.nnodes=1.5"],
            "error: cluster.nnodes: Value '1.5' of type 'float' could not be converted to Integer",
        ),
        (
            ["cluster.gpus_per_node=abc"],
            "error: cluster.gpus_per_node: Value 'abc' of type 'str' could not be converted to Integer",
        ),
        (
            ["eval.robustness=[jpeg80]"],
            "error: eval.robustness: Cannot convert 'list' to string: '['jpeg80']'",
        ),
        (
            ["cluster=local", "cluster.nnodes=2"],
            "error: cluster.nnodes: cluster=local runs on this machine only but cluster.nnodes=2; "
            "use cluster=torchrun or cluster=slurm",
        ),
        (["cluster=_base"], "error: cluster: unknown cluster '_base'; available: local, slurm, torchrun"),
        (["model=null"], "error: model: choose one; available: "),
        (["run_name=" + "y" * 300], "error: run_name: 'yyyy"),
    ],
)
def test_launch_config_errors_are_one_line_and_leave_nothing(
    overrides: list[str], line: str, dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused_in_one_line(overrides, line, dry_run, tmp_path, capsys)


# ----- issue 14 item 10: values that would fail hours later -----------------------------------------


@pytest.mark.parametrize("dry_run", ["true", "false"])
@pytest.mark.parametrize(
    "overrides, line",
    [
        (
            ["data.fold=7"],
            "error: stages.prepare_data.options.fold: fold must be in [0, 3] for num_folds=4, got 7 "
            "(data.fold, data.num_folds in the recipes)",
        ),
        (
            ["data.fold=-1"],
            "error: stages.prepare_data.options.fold: fold must be in [0, 3] for num_folds=4, got -1",
        ),
        (
            ["stages.sft.learning_rate=-1e-5"],
            "error: stages.sft.learning_rate: a learning rate must not be negative, got -1e-05",
        ),
        (
            ["stages.grpo_cpu.learning_rate=-1e-5"],
            "error: stages.grpo_cpu.learning_rate: a learning rate must not be negative, got -1e-05",
        ),
    ],
)
def test_smoke_values_that_fail_in_a_stage_are_refused_before_launch(
    overrides: list[str], line: str, dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused_in_one_line(overrides, line, dry_run, tmp_path, capsys)


@pytest.mark.parametrize(
    "overrides, line",
    [
        (
            ["stages.grpo.actor_rollout_ref.rollout.tensor_model_parallel_size=abc"],
            "error: stages.grpo.actor_rollout_ref.rollout.tensor_model_parallel_size: verl 0.9.1 expects "
            "a number for 'actor_rollout_ref.rollout.tensor_model_parallel_size'",
        ),
        (
            ["stages.grpo.actor_rollout_ref.rollout.tensor_model_parallel_size=4", "cluster.gpus_per_node=0"],
            "error: stages.grpo.actor_rollout_ref.rollout.tensor_model_parallel_size: 4 on qwen2_5_vl",
        ),
    ],
)
def test_full_profile_values_are_refused_on_fakexplain(
    overrides: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["paper=fakexplain", "profile=full", "dry_run=true", *overrides])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert "Traceback" not in captured.err
    assert any(got.startswith(line) for got in lines), lines
    if "cluster.gpus_per_node=0" in overrides:
        assert all("cluster.gpus_per_node is 0" in got for got in lines), lines


@pytest.mark.parametrize(
    "overrides, line",
    [
        (
            ["stages.grpo.data.train_batch_size=0"],  # was a ZeroDivisionError traceback (reward steps)
            "error: stages.grpo.data.train_batch_size: must be at least 1, got 0",
        ),
        (
            ["stages.grpo.trainer.total_epochs=-1"],
            "error: stages.grpo.trainer.total_epochs: must be at least 1, got -1 (verl's training loop "
            "would run no epoch)",
        ),
        (
            ["stages.grpo.actor_rollout_ref.rollout.n=0"],
            "error: stages.grpo.actor_rollout_ref.rollout.n: must be at least 1, got 0 (the responses per prompt)",
        ),
        (
            ["stages.sft.num_train_epochs=0"],
            "error: stages.sft.num_train_epochs: must be more than 0 (or set max_steps), got 0",
        ),
        (["stages.sft.max_length=-5"], "error: stages.sft.max_length: must be at least 1, got -5"),
        (["stages.sft.lora_rank=0"], "error: stages.sft.lora_rank: must be at least 1, got 0"),
        (["stages.sft.save_steps=0"], "error: stages.sft.save_steps: must be more than 0, got 0"),
        (
            ["stages.grpo.trainer.save_freq=0"],  # verl trained to the end, then finalize found no checkpoint
            "error: stages.grpo.trainer.save_freq: is 0: verl saves a checkpoint only when "
            "trainer.save_freq > 0, so the stage would train to the end and leave no global_step_N for "
            "the next stage (nothing to merge, evaluate or resume); set a number of steps, e.g. "
            "stages.grpo.trainer.save_freq=50 (verl also saves at the last step)",
        ),
        (
            ["stages.grpo.data.max_response_length=0"],
            "error: stages.grpo.data.max_response_length: must be at least 1, got 0 (the tokens of one response)",
        ),
        (
            ["stages.grpo.actor_rollout_ref.rollout.gpu_memory_utilization=2"],  # vLLM refused it at start-up
            "error: stages.grpo.actor_rollout_ref.rollout.gpu_memory_utilization: must be more than 0 and "
            "at most 1 (the share of each GPU's memory), got 2",
        ),
        (
            ["stages.grpo.actor_rollout_ref.actor.kl_loss_coef=-1"],  # rewarded drifting from the reference
            "error: stages.grpo.actor_rollout_ref.actor.kl_loss_coef: must be 0 or more, got -1",
        ),
        (
            ["stages.sft.warmup_ratio=5"],
            "error: stages.sft.warmup_ratio: is a fraction of the training steps, at least 0 and below 1, got 5 "
            "(transformers reads 1 or more as a number of steps: set warmup_steps for that)",
        ),
    ],
)
def test_counts_that_would_train_nothing_are_refused(
    overrides: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts the trainers take as given: below 1 (or 0) they train nothing without an error, or
    fail at start-up after the model loaded."""
    code = main(["paper=fakexplain", "profile=full", "dry_run=true", *overrides])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.strip().splitlines() == [line], captured.err


def test_counts_at_their_limits_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """max_steps replaces the epochs (transformers); a save_steps below 1 is a fraction of the steps."""
    overrides = ["stages.sft.num_train_epochs=0", "+stages.sft.max_steps=10", "stages.sft.save_steps=0.1"]
    overrides += [
        "stages.grpo.actor_rollout_ref.rollout.gpu_memory_utilization=1",
        "stages.grpo.actor_rollout_ref.actor.kl_loss_coef=0",
        "stages.sft.warmup_ratio=0",
    ]
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", *overrides]) == 0, (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "overrides, lines",
    [
        (
            ["+stages.synth_data.num_fakes=5"],  # a key data_prep does not know, added with '+'
            [
                "error: stages.synth_data.num_fakes: python3 -m data_prep synth: unrecognized arguments: --num-fakes 5"
            ],
        ),
        (
            ["smoke.num_fake=-5"],
            [
                "error: stages.synth_data.num_fake: python3 -m data_prep synth: argument --num-fake: must be at least 0, got -5"
            ],
        ),
        (
            ["smoke.num_fake=0", "smoke.num_real=0"],
            [
                "error: stages.synth_data.num_fake: python3 -m data_prep synth: --num-fake and --num-real: both 0, "
                "the fake_hr1 layout would write no image"
            ],
        ),
        (
            ["stages.synth_data.size=12x12"],
            [
                "error: stages.synth_data.size: python3 -m data_prep synth: argument --size: --size sides must be at "
                "least 32 pixels, got '12x12'"
            ],
        ),
        (
            ["stages.tiny_model.arch=qwen3"],
            [
                "error: stages.tiny_model.arch: python3 -m data_prep tiny-model: argument --kind/--arch: invalid "
                "choice: 'qwen3' (choose from 'qwen2_5_vl', 'llava1_6', 'llava1_5', 'clip_vision')"
            ],
        ),
        (
            ["+stages.prepare_genimage.workers=0"],  # prepare_fakeclue extends prepare_genimage
            [
                f"error: stages.{stage}.workers: python3 -m data_prep convert: argument --workers: must be at "
                "least 1, got 0"
                for stage in ("prepare_genimage", "prepare_fakeclue")
            ],
        ),
    ],
)
@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_data_prep_command_lines_are_parsed_before_the_pipeline_starts(
    overrides: list[str], lines: list[str], dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """data_prep's own parser reads each data stage's command line: these passed before and
    stopped the stage after the ones before it ran (a tiny model built, then synth refused)."""
    code = main(
        ["paper=fake_hr1", "profile=smoke", f"paths.runs={tmp_path}", f"dry_run={dry_run}", *overrides]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.err.strip().splitlines() == lines, captured.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "overrides, lines",
    [
        (
            ["+stages.prepare_data.options.templates_real=0"],
            [
                "error: stages.prepare_data.options.templates_real: must be between 1 and 3 (the real templates in "
                "the templates file), got 0"
            ],
        ),
        (
            ["+stages.prepare_data.options.box_clip_tolerance=-1"],
            ["error: stages.prepare_data.options.box_clip_tolerance: must be 0 or more (pixels), got -1.0"],
        ),
        (
            ["stages.prepare_data.options.max_pixels=10"],
            ["error: stages.prepare_data.options: need 0 < min_pixels <= max_pixels, got 3136, 10"],
        ),
        (
            # prepare_ood_ffpp extends prepare_ood_gpt4o
            ["table=table6", "table_runs=[ood_best]", "stages.prepare_ood_gpt4o.options.region_syntax=foo"],
            [
                f"error: stages.prepare_ood_{name}.options: region_syntax must be one of ['internvl', 'json', "
                "'tokens'], got 'foo'"
                for name in ("gpt4o", "ffpp")
            ],
        ),
    ],
)
def test_a_sources_own_option_checks_run_before_the_pipeline_starts(
    overrides: list[str], lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The checks a source's prepare makes from its config files alone (its check_options,
    data_prep/source_api.py): before, they passed the dry run and stopped the data stage."""
    code = main(["paper=fakexplain", "profile=full", "dry_run=true", *overrides])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.strip().splitlines() == lines, captured.err


@pytest.mark.parametrize(
    "override, line",
    [
        (
            "stages.sft=null",
            "error: stages.sft: a stage is a mapping of its settings (kind: ..., ...), got None",
        ),
        ("stages.sft.inputs=5", "error: stages.sft.inputs: must be a mapping (key: value, ...), got 5"),
        ("stages.sft.env=5", "error: stages.sft.env: must be a mapping (key: value, ...), got 5"),
        ("stages.eval.options=5", "error: stages.eval.options: must be a mapping (key: value, ...), got 5"),
        (
            "stages.eval.options.sampling.temperature=0.5",  # options is ${eval}: Hydra said "no such key"
            "error: stages.eval.options.sampling.temperature: stages.eval.options is ${eval} in the config, so "
            "nothing under it can be overridden; set eval.sampling.temperature instead (it applies wherever "
            "${eval} is used)",
        ),
        (
            "variant=linear_swift stages.grpo_swift.reward_fn.kwargs=5",
            "error: stages.grpo_swift.reward_fn.kwargs: must be a mapping (key: value, ...), got 5",
        ),
        (
            "stages.grpo.data=5",
            "error: stages.grpo.data: must be a mapping (a section of verl 0.9.1's config), got 5",
        ),
        (
            "stages.grpo.data=null",
            "error: stages.grpo.data: must be a mapping (a section of verl 0.9.1's config), got None",
        ),
        (
            "stages.grpo.actor_rollout_ref.rollout=5",
            "error: stages.grpo.actor_rollout_ref.rollout: must be a mapping (a section of verl 0.9.1's config), "
            "got 5",
        ),
    ],
)
def test_a_section_given_a_scalar_is_one_line(
    override: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each was an AttributeError traceback from planning (the extends merge, the inputs, the
    reward schedule's steps, the pre-flight, the vLLM checks)."""
    code = main(["paper=fakexplain", "profile=full", "dry_run=true", *override.split()])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.strip().splitlines() == [line], captured.err


def test_the_download_stage_is_parsed_too(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["paper=fakexplain", "profile=full", "dry_run=true", "stages.download_model.hub=hff"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines == [
        "error: stages.download_model.hub: python3 -m data_prep download: argument --hub: invalid choice: "
        "'hff' (choose from 'hf', 'modelscope')"
    ], lines


def test_fakexplain_lr_of_the_wrong_type_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "paper=fakexplain",
            "profile=full",
            "dry_run=true",
            "stages.grpo.actor_rollout_ref.actor.optim.lr=abc",
        ]
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines == [
        "error: stages.grpo.actor_rollout_ref.actor.optim.lr: verl 0.9.1 expects a number for "
        "'actor_rollout_ref.actor.optim.lr' (its default is 1e-06), got 'abc'"
    ]


@pytest.mark.parametrize("paper", PAPERS)
def test_a_skipped_gpu_stage_of_a_smoke_profile_is_not_refused(
    paper: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The smoke profiles run with cluster.gpus_per_node=0 and skip their vLLM stages."""
    code = main([f"paper={paper}", "profile=smoke", "dry_run=true"])
    assert code == 0, capsys.readouterr().err


def test_a_dry_run_of_a_subset_on_fakexplain_prints_only_those_stages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", "stages=[grpo,eval]"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("# stage:")] == [
        "# stage: grpo",
        "# stage: eval",
    ]


def test_an_unknown_from_stage_on_fakexplain_suggests_the_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper=fakexplain", "profile=full", "dry_run=true", "from_stage=gpro"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: from_stage: no stage 'gpro' in this pipeline (did you mean: grpo?)"
    ), lines
