"""The product on a CPU: `python -m harness paper=fakexplain` (smoke profile) trains for real,
survives SIGKILL, stops at a failing stage, and keeps runs apart.

Every run writes into a temporary `paths.runs`, so nothing touches the checkout's runs/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

PAPER = ["paper=fakexplain", "profile=smoke"]
HARNESS = [sys.executable, "-m", "harness"]


def _run(runs: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HARNESS, *PAPER, f"paths.runs={runs}", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _manifest(runs: Path, run_name: str) -> dict:
    return json.loads((runs / "fakexplain" / run_name / "manifest.json").read_text())


def _stages(manifest: dict) -> dict[str, dict]:
    return {s["name"]: s for s in manifest["stages"]}


@dataclass(frozen=True)
class SmokeRun:
    proc: subprocess.CompletedProcess
    runs: Path
    run_dir: Path


class ManifestWatcher:
    """Reads manifest.json over and over while a run writes it; every read must be valid JSON."""

    def __init__(self, path: Path):
        self.path = path
        self.reads = 0
        self.invalid: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ManifestWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.path.exists():
                text = self.path.read_text()
                try:
                    json.loads(text)
                    self.reads += 1
                except json.JSONDecodeError:
                    self.invalid.append(text[-200:])
            time.sleep(0.05)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """`python -m harness paper=fakexplain profile=smoke` once (fixed seeds); the tests below read it."""
    runs = tmp_path_factory.mktemp("smoke")
    # The SFT sized to learn takes about 5.5 minutes alone on 2 cores, twice that beside another
    # test worker: the timeout leaves room for a loaded machine.
    proc = _run(runs, "run_name=e2e", timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return SmokeRun(proc=proc, runs=runs, run_dir=runs / "fakexplain" / "e2e")


@pytest.mark.slow
def test_smoke_reproduction_trains_evaluates_and_reports(smoke_run: SmokeRun) -> None:
    proc, run_dir = smoke_run.proc, smoke_run.run_dir
    manifest = _manifest(smoke_run.runs, "e2e")
    # The record a reviewer trusts.
    assert manifest["paper"] == "fakexplain" and manifest["profile"] == "smoke"
    assert len(manifest["git"]["commit"]) == 40
    for package in ("ms-swift", "verl", "transformers", "torch", "vllm"):
        assert package in manifest["versions"]
    assert manifest["versions"]["ms-swift"] == "4.6.0" and manifest["versions"]["verl"] == "0.9.1"
    assert manifest["host"]["hostname"]
    stages = _stages(manifest)
    assert [s["name"] for s in manifest["stages"]] == [
        "tiny_model",
        "synth_data",
        "prepare_data",
        "sft",  # a full fine-tune: merge_sft is bypassed, eval_sft and GRPO read sft/final
        "eval_sft",
        "grpo",
        "merge_grpo",
        "grpo_cpu",
        "merge_grpo_cpu",
        "eval",
        "report",
    ]
    for name, stage in stages.items():
        if name in ("grpo", "merge_grpo"):
            # verl cannot run on a CPU: rendered, validated, and its skip is reported, not hidden.
            assert stage["status"] == "skipped", (name, stage)
            assert stage["skip_reason"] and stage["argv"][:2] in (["python3", "-m"],)
            assert f"{name}: skipped in profile smoke" in proc.stdout
        else:
            assert stage["status"] == "completed", (name, stage)
            assert stage["exit_code"] == 0 and stage["started"] and stage["ended"]
            assert Path(stage["log"]).exists()
    # Real training: checkpoints, merged weights, the reward was called by ms-swift's GRPO.
    assert (run_dir / "sft" / "final").resolve().name.startswith("checkpoint-")
    assert (run_dir / "sft" / "final" / "config.json").exists() and not (run_dir / "merge_sft").exists()
    eval_argv = stages["eval_sft"]["argv"]
    assert eval_argv[eval_argv.index("--model") + 1] == str(run_dir / "sft" / "final")
    assert (run_dir / "merge_grpo_cpu" / "merged" / "config.json").exists()
    grpo_log = Path(stages["grpo_cpu"]["log"]).read_text()
    assert "rewards/AigiReward/mean" in grpo_log or "AigiReward" in grpo_log
    assert json.loads(stages["grpo_cpu"]["env"]["AIGI_REWARD"])["path"] == str(
        run_dir / "reward" / "fakexplain.py"
    )
    # Evaluation and report.
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_predictions"] == metrics["n_images"] > 0
    report = (run_dir / "report.md").read_text()
    assert "Accuracy and IoU per generator (002 Table 2" in report
    from PIL import Image

    pngs = sorted(run_dir.glob("*.png"))
    assert "training_curves.png" in {p.name for p in pngs}
    # The ROC needs a probability of fake per image, read at the verdict by the recipe's unchanged
    # evaluation: drawn once the smoke model writes verdicts (issue 17), else the report says why.
    assert "roc_eval.png" in {p.name for p in pngs} or (
        "No ROC curves: no eval stage has a probability of fake for both real and fake images." in report
    )
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG"
    # Secrets never reach the records.
    assert "WANDB_API_KEY" not in (run_dir / "manifest.json").read_text()


# The thresholds on the held-out images (fold 0: 40 images, half fake), after SFT, through
# the recipe's own evaluation stage. Chance is 0.5.
MIN_PARSABLE = 0.90
MIN_ACCURACY = 0.85
MIN_IOU = 0.30  # on fakes
MIN_AUC = 0.75  # the probability of fake (003 eq. 2) at the verdict token


def _figures(metrics_path: Path) -> dict[str, float]:
    metrics = json.loads(metrics_path.read_text())
    values = metrics["values"]
    return {
        "n": metrics["n_predictions"],
        "parsable": 1.0 - values["unparsable_rate"],
        "accuracy": values["accuracy"],
        "iou": values["iou"],
        "scored": metrics["counts"].get("n/p_fake", 0),
        "auc": values.get("auc"),
    }


def _learned(figures: dict[str, float]) -> bool:
    return (
        figures["parsable"] >= MIN_PARSABLE
        and figures["accuracy"] >= MIN_ACCURACY
        and figures["iou"] >= MIN_IOU
    )


# Measured on 2026-12-03 with this profile's SFT (full fine-tune of the `learner` tiny model with
# its projector, ViT frozen, lr 1e-3, 150 steps of 8, SFT prompts from all templates, 2 x 2-cell
# artefacts, 360 training images): on the 120 held-out images parsable 0.99, accuracy 0.93, IoU on
# fakes 0.84. On the way (stop 24): the recipe's by-label SFT prompts told the tiny model the label
# (it learned the prompt, chance on held-out images); one-cell artefacts were never found (prompt of
# ~90 tokens, 1 image token in 12); the width-64 2-layer model wrote "11284" for "112, 84"; with the
# projector frozen, artefacts in the top half were mostly missed (accuracy 0.77).


@pytest.mark.slow
def test_the_smoke_run_learns(smoke_run: SmokeRun) -> None:
    """After the smoke SFT and after GRPO, on 40 held-out images: parsable, right and grounded."""
    run_dir = smoke_run.run_dir
    manifest = [
        json.loads(line) for line in (run_dir / "prepare_data" / "eval.jsonl").read_text().splitlines()
    ]
    assert len(manifest) >= 40 and sum(row["label"] == "fake" for row in manifest) == len(manifest) // 2
    train_ids = {
        json.loads(line)["extra_info"]["id"] for line in (run_dir / "prepare_data" / "grpo.jsonl").open()
    }
    assert not train_ids & {row["id"] for row in manifest}  # held out
    for stage in ("eval_sft", "eval"):
        figures = _figures(run_dir / stage / "metrics.json")
        assert figures["n"] == len(manifest)
        assert _learned(figures), (stage, figures)
        # Token soft-scoring finds the verdict the model writes (`<verdict` then `>fake`: the tiny BPE
        # glues it to the `>`; no image was scored before) and ranks the fakes first.
        assert figures["scored"] >= MIN_PARSABLE * figures["n"] and (figures["auc"] or 0.0) >= MIN_AUC, (
            stage,
            figures,
        )
    # The GRPO stage started from that model and the report shows its reward and parts per step.
    report = (run_dir / "report.md").read_text()
    assert "## GRPO reward per step" in report
    table = report.split("## GRPO reward per step", 1)[1].split("\n## ", 1)[0]
    assert "| step | reward | acc | format | grounding | iou | label | w_iou |" in table
    steps = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    grpo_steps = _stages(_manifest(smoke_run.runs, "e2e"))["grpo_cpu"]["config"]["stages.grpo_cpu.max_steps"]
    assert len(steps) == grpo_steps
    # The SFT model already answers in format: GRPO's completions are parsable from the first step.
    first = [float(cell) for cell in steps[0].strip("|").split("|")[1:]]
    assert first[2] > 0.5  # mean format reward (+1 parsable, -1 not)


def _eval_argv(
    run_dir: Path, stage: str, out: Path, manifest: Path | None = None, **changes: object
) -> list[str]:
    """The eval stage's own command from the manifest, writing to ``out``, with config ``changes``."""
    stage_record = _stages(json.loads((run_dir / "manifest.json").read_text()))[stage]
    argv = list(stage_record["argv"])
    argv[argv.index("--output-dir") + 1] = str(out)
    if manifest is not None:
        argv[argv.index("--manifest") + 1] = str(manifest)
    config = json.loads(argv[argv.index("--config-json") + 1])
    config.update(changes)
    argv[argv.index("--config-json") + 1] = json.dumps(config)
    assert argv[:3] == ["python3", "-m", "harness.evaluation"]
    return [sys.executable, *argv[1:]]


@pytest.mark.slow
def test_the_thresholds_catch_broken_wiring(smoke_run: SmokeRun, tmp_path: Path) -> None:
    """The same trained model and evaluation stage with one piece of wiring broken on purpose."""
    run_dir = smoke_run.run_dir
    # 1. Boxes in the original image frame (224 x 168) instead of the model frame (112 x 84): what a
    #    converter that skips data_prep/model_frame.py produces. Training saw model-frame boxes.
    original = tmp_path / "original_frame"
    converted = subprocess.run(
        [sys.executable, "-m", "data_prep", "convert", "--source", "fakexplained", "--input",
         str(run_dir / "synth_data"), "--output-dir", str(original), "--options",
         json.dumps({"fold": 0, "num_folds": 4, "seed": 0, "min_pixels": 3136, "max_pixels": 224 * 168})],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr[-2000:]
    rows = [json.loads(line) for line in (original / "eval.jsonl").read_text().splitlines()]
    assert {(r["frame"]["width"], r["frame"]["height"]) for r in rows} == {(224, 168)}
    # 2. A different system prompt at evaluation than at training.
    broken = {
        "boxes in the original frame": _eval_argv(run_dir, "eval_sft", tmp_path / "frame", original / "eval.jsonl"),
        "another system prompt": _eval_argv(run_dir, "eval_sft", tmp_path / "system",
                                            system_prompt="You are a helpful assistant."),
    }  # fmt: skip
    right = _figures(run_dir / "eval_sft" / "metrics.json")
    assert _learned(right)
    for name, argv in broken.items():
        out = Path(argv[argv.index("--output-dir") + 1])
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        figures = _figures(out / "metrics.json")
        assert not _learned(figures), (name, figures)
    frame = _figures(tmp_path / "frame" / "metrics.json")
    assert frame["iou"] < MIN_IOU / 2 and frame["accuracy"] == right["accuracy"]  # only the boxes moved


@pytest.mark.slow
def test_sigkill_during_sft_then_the_same_command_resumes(tmp_path: Path) -> None:
    # Longer SFT so the kill lands mid-training, after a checkpoint. The stages after SFT are the
    # smoke fixture's business (test_smoke_reproduction_trains_evaluates_and_reports).
    args = [
        *PAPER,
        f"paths.runs={tmp_path}",
        "run_name=killed",
        "stages=[tiny_model,synth_data,prepare_data,sft]",
        "stages.sft.max_steps=16",
        "stages.sft.save_steps=2",
        "stages.sft.global_batch_size=2",
        # The same training, tracked by wandb offline (the default mode): its run folder is checked below.
        "tracking=wandb",
    ]
    run_dir = tmp_path / "fakexplain" / "killed"
    with ManifestWatcher(run_dir / "manifest.json") as watcher:
        proc = subprocess.Popen(
            [*HARNESS, *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            # A complete checkpoint (the Trainer writes trainer_state.json last): the resume case.
            # A kill during the very first save is the restart-cleanly case (test_finalize covers
            # that an incomplete checkpoint is never resumed from).
            checkpoints = list((run_dir / "sft" / "output").glob("checkpoint-*/trainer_state.json"))
            if checkpoints and proc.poll() is None:
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        else:
            pytest.fail("SFT never wrote a checkpoint")
        os.killpg(proc.pid, signal.SIGKILL)  # the harness and every trainer process it started
        proc.wait(timeout=60)
        first = _manifest(tmp_path, "killed")
        assert _stages(first)["sft"]["status"] == "running"
        prepared = _stages(first)["prepare_data"]
        assert prepared["status"] == "completed"

        again = subprocess.run([*HARNESS, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert watcher.invalid == [] and watcher.reads > 10
    stages = _stages(_manifest(tmp_path, "killed"))
    # Data preparation is not repeated.
    assert "prepare_data: already completed" in again.stdout
    assert (
        stages["prepare_data"]["started"] == prepared["started"] and stages["prepare_data"]["attempts"] == 1
    )
    # SFT resumed from its last checkpoint and the run completed.
    assert "sft: resuming" in again.stdout
    assert "--resume_from_checkpoint" in stages["sft"]["argv"]
    assert stages["sft"]["attempts"] == 2 and stages["sft"]["status"] == "completed"
    assert all(stages[name]["status"] == "completed" for name in ("tiny_model", "synth_data", "prepare_data"))
    # Training went on to the last step after the resume.
    assert "checkpoint-16" in {p.name for p in (run_dir / "sft" / "output").rglob("checkpoint-*")}
    _assert_wandb_offline_runs_hold_the_loss(run_dir)


def _assert_wandb_offline_runs_hold_the_loss(run_dir: Path) -> None:
    """tracking=wandb: each SFT process wrote an offline run in the stage folder; the resumed one
    holds the loss of every step it trained, as ms-swift's own log has it."""
    from harness.report.training_logs import read_swift_stage
    from tests.smoke.tracker_files import wandb_history, wandb_run

    runs = sorted(
        (run_dir / "sft" / "wandb").glob("offline-run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime
    )
    assert len(runs) == 2, runs  # the killed process and the resumed one
    for path in runs:
        record = wandb_run(path)
        assert (record.project, record.display_name, record.run_group) == (
            "fakexplain",
            "killed-sft",
            "killed",
        )
    logged = {
        int(row["train/global_step"]): row["train/loss"]
        for row in wandb_history(runs[-1])
        if "train/loss" in row
    }
    swift = read_swift_stage(run_dir / "sft", None)["loss"]
    assert max(logged) == 16 and min(logged) > 1, logged  # resumed from a checkpoint, trained to the end
    assert all(logged[step] == pytest.approx(swift[step], rel=1e-4, abs=1e-6) for step in logged), (
        logged,
        swift,
    )
    # The report names the folders and how to upload them.
    from harness.report.run_dir import load_run
    from harness.report.tracking import tracker_runs

    [entry] = tracker_runs(load_run(run_dir))
    assert entry.tracker == "wandb" and entry.view == "wandb sync " + " ".join(
        str(p.parent) for p in sorted(runs)
    )


@pytest.mark.slow
def test_a_failing_stage_stops_the_pipeline(tmp_path: Path) -> None:
    # Every image missing under image_root: prepare_data rejects every record and exits non-zero
    # (a failure only the data shows; min_pixels=0, used before, is now refused before launch).
    proc = _run(tmp_path, "run_name=broken", "+stages.prepare_data.options.image_root=/nonexistent")
    assert proc.returncode != 0
    assert "prepare_data: FAILED with exit code" in proc.stderr
    assert "last lines of" in proc.stderr and "image_missing" in proc.stderr
    stages = _stages(_manifest(tmp_path, "broken"))
    assert stages["prepare_data"]["status"] == "failed" and stages["prepare_data"]["exit_code"] != 0
    assert "sft" not in stages or stages["sft"]["status"] == "pending"
    assert not (tmp_path / "fakexplain" / "broken" / "sft").exists()
    assert re.search(r"\[\d+/\d+\] sft\b", proc.stdout) is None


def test_two_runs_with_different_names_share_nothing(tmp_path: Path) -> None:
    for name in ("a", "b"):
        proc = _run(tmp_path, f"run_name={name}", "stages=[synth_data]", timeout=300)
        assert proc.returncode == 0, proc.stderr
    a, b = tmp_path / "fakexplain" / "a", tmp_path / "fakexplain" / "b"
    assert _manifest(tmp_path, "a")["run_name"] == "a" and _manifest(tmp_path, "b")["run_name"] == "b"
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    assert files_a and files_a == {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    for path in a.rglob("*"):
        assert str(b) not in str(path.resolve())
    assert _stages(_manifest(tmp_path, "a"))["synth_data"]["stage_dir"] == str(a / "synth_data")


def test_completed_stage_is_skipped_and_a_changed_config_is_refused(tmp_path: Path) -> None:
    first = _run(tmp_path, "run_name=r", "stages=[synth_data]", timeout=300)
    assert first.returncode == 0, first.stderr
    started = _stages(_manifest(tmp_path, "r"))["synth_data"]["started"]
    second = _run(tmp_path, "run_name=r", "stages=[synth_data]", timeout=300)
    assert second.returncode == 0 and "synth_data: already completed" in second.stdout
    assert _stages(_manifest(tmp_path, "r"))["synth_data"]["started"] == started
    changed = _run(tmp_path, "run_name=r", "stages=[synth_data]", "smoke.num_fake=3", timeout=300)
    assert changed.returncode == 2
    assert "error: stages.synth_data: completed in" in changed.stderr
    assert "changed: stages.synth_data.num_fake (240 -> 3)" in changed.stderr
    assert "from_stage=synth_data" in changed.stderr
    rerun = _run(
        tmp_path,
        "run_name=r",
        "stages=[synth_data]",
        "smoke.num_fake=3",
        "from_stage=synth_data",
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    record = _stages(_manifest(tmp_path, "r"))["synth_data"]
    assert record["attempts"] == 2 and record["config"]["stages.synth_data.num_fake"] == 3


def test_a_users_reward_file_is_checked_and_travels_with_the_run(tmp_path: Path) -> None:
    reward = tmp_path / "my_reward.py"
    reward.write_text(
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n"
        "    return {'score': 1.0}\n"
    )
    proc = _run(tmp_path, "run_name=own", "stages=[synth_data]", f"reward.path={reward}", timeout=300)
    assert proc.returncode == 0, proc.stderr
    copy = tmp_path / "fakexplain" / "own" / "reward" / "my_reward.py"
    assert copy.read_text() == reward.read_text()
    import hashlib

    assert _manifest(tmp_path, "own")["reward_sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    dry = _run(tmp_path, "run_name=own", "dry_run=true", f"reward.path={reward}", timeout=300)
    assert f"reward.custom_reward_function.path={reward}" in dry.stdout  # dry runs copy nothing


def test_a_broken_reward_file_stops_the_run_before_any_stage(tmp_path: Path) -> None:
    reward = tmp_path / "bad_reward.py"
    reward.write_text("def compute_score(text):\n    return 0.0\n")
    proc = _run(tmp_path, "run_name=bad", f"reward.path={reward}", timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: reward.path: ") and "bad_reward.py" in proc.stderr
    assert not (tmp_path / "fakexplain" / "bad" / "manifest.json").exists()
    missing = _run(tmp_path, "run_name=bad", f"reward.path={tmp_path}/nope.py", timeout=300)
    assert missing.returncode == 2 and "nope.py" in missing.stderr


def test_a_subset_needs_its_inputs(tmp_path: Path) -> None:
    proc = _run(tmp_path, "run_name=s", "stages=[prepare_data]", timeout=300)
    assert proc.returncode == 2
    assert "needs the outputs of stage 'synth_data', which has not completed" in proc.stderr


def test_multirun_over_folds_renders_one_pipeline_per_fold(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *HARNESS,
            "paper=fakexplain",
            "profile=full",
            "dry_run=true",
            f"paths.runs={tmp_path}",
            "run_name=cv",
            "-m",
            "data.fold=0,1,2,3",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    members = [line for line in proc.stdout.splitlines() if line.startswith("=== ")]
    assert members == [f"=== cv__data.fold-{k} ===" for k in range(4)]
    for k in range(4):
        assert f'"fold": {k}' in proc.stdout
        assert f"{tmp_path}/fakexplain/cv__data.fold-{k}/prepare_data" in proc.stdout


@pytest.mark.slow
def test_multirun_over_folds_reports_mean_and_spread(tmp_path: Path) -> None:
    # Each fold evaluates the tiny model itself on its own held-out rows (SFT is the smoke fixture's
    # business): the sweep, the per-fold runs and the report's mean and spread are what is tested.
    stages = [
        "stages=[tiny_model,synth_data,prepare_data,eval_sft]",
        "stages.eval_sft.inputs.model=stage:tiny_model",
    ]
    quick_eval = ["eval.limit=8", "eval.max_new_tokens=32"]
    proc = subprocess.run(
        [
            *HARNESS,
            *PAPER,
            f"paths.runs={tmp_path}",
            "run_name=cv",
            *stages,
            *quick_eval,
            "-m",
            "data.fold=0,1",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for k in (0, 1):
        assert _stages(_manifest(tmp_path, f"cv__data.fold-{k}"))["eval_sft"]["status"] == "completed"
    report = (tmp_path / "fakexplain" / "cv__sweep" / "report.md").read_text()
    assert "cv__data.fold-0" in report and "cv__data.fold-1" in report
    assert "±" in report  # mean and spread across the two folds


@pytest.mark.slow
def test_the_smoke_run_writes_tensorboard_events_of_every_training_stage(smoke_run: SmokeRun) -> None:
    # The default tracking=tensorboard: read back with TensorBoard's own event reader, the curves
    # are ms-swift's own per-step values (its logging.jsonl): SFT loss, GRPO reward.
    from harness.report.training_logs import read_swift_stage
    from tests.smoke.tracker_files import tensorboard_scalars

    for stage, tag, key in (("sft", "train/loss", "loss"), ("grpo_cpu", "train/reward", "reward")):
        logdir = smoke_run.run_dir / stage / "tensorboard"
        events = tensorboard_scalars(logdir, tag)
        logged = read_swift_stage(smoke_run.run_dir / stage, None)[key]
        assert events and sorted(events) == sorted(logged), (stage, events, logged)
        assert all(events[step] == pytest.approx(logged[step], rel=1e-4, abs=1e-6) for step in events), stage
    report = (smoke_run.run_dir / "report.md").read_text()
    assert "## Experiment tracking" in report and "tracker **tensorboard**, project `fakexplain`" in report
    for stage in ("sft", "grpo_cpu"):
        assert f"tensorboard --logdir {smoke_run.run_dir / stage / 'tensorboard'}" in report
