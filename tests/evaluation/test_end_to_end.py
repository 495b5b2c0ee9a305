"""CPU end to end: ``python -m harness.evaluation`` on the tiny Qwen2.5-VL (interrupted and resumed), then
``python -m harness.report`` on a run directory holding that eval stage, a real ms-swift log and a
verl log. Slow: builds the model and runs both CLIs as the pipeline renders them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.evaluation.conftest import PYTHON, REPO, run_module
from tests.evaluation.run_factory import DATA, verl_file_log

pytestmark = pytest.mark.slow

EVAL_OPTIONS = {
    "backend": "transformers",
    "response_format": "think_tag_verdict",
    "max_new_tokens": 12,
    "batch_size": 2,
    "metrics": [
        "accuracy",
        "iou",
        "matched_iou",
        "bleu2",
        "rouge_l",
        "ap",
        "auc",
        "soft_accuracy",
        "response_tokens",
    ],
    # prefix scoring always yields a probability, even from a random model that never says real or fake
    "soft_scoring": {
        "position": "prefix",
        "fake_words": ["fake"],
        "real_words": ["real"],
        "prompt": "What is the authenticity of this image?",
        "assistant_prefix": "This image is",
    },
}


def evaluate_cli(manifest: Path, model: Path, out: Path, **overrides) -> subprocess.CompletedProcess:
    options = {**EVAL_OPTIONS, **overrides}
    return run_module(
        "harness.evaluation",
        "--manifest",
        str(manifest),
        "--model",
        str(model),
        "--output-dir",
        str(out),
        "--config-json",
        json.dumps(options),
    )


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_evaluation_resumes_and_the_report_is_built(tiny_qwen: Path, make_manifest, tmp_path: Path) -> None:
    manifest = make_manifest(6)
    run = tmp_path / "runs" / "fakexplain" / "smoke1"
    out = run / "eval"

    # 1. a first, partial evaluation (the first 3 images), as if the job had stopped there
    first = evaluate_cli(manifest, tiny_qwen, out, limit=3)
    assert first.returncode == 0, first.stderr[-3000:]
    partial = lines(out / "predictions.jsonl")
    assert len(partial) == 3

    # 2. a torn last line, as a kill during a write leaves it
    with (out / "predictions.jsonl").open("a") as handle:
        handle.write('{"id": "img3", "image": "/tr')

    # 3. the restart evaluates only what is missing
    second = evaluate_cli(manifest, tiny_qwen, out)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "6 images, 3 already in" in second.stdout
    final = lines(out / "predictions.jsonl")
    assert final[:3] == partial, "lines already written are kept byte for byte"
    rows = [json.loads(line) for line in final]
    assert [r["id"] for r in rows] == [f"img{k}" for k in range(6)]

    # 4. a changed answer-relevant option is refused rather than mixed into the same file
    conflict = evaluate_cli(manifest, tiny_qwen, out, max_new_tokens=13)
    assert conflict.returncode == 2 and "changed: max_new_tokens" in conflict.stderr

    # 5. metrics.json: the random model's answers are unparsable, counted, and every metric is computed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["schema"] == "aigi-repro/eval-metrics/1" and metrics["complete"] is True
    assert metrics["n_images"] == metrics["n_predictions"] == 6
    values, counts = metrics["values"], metrics["counts"]
    parsed_ok = sum(r["parse_ok"] for r in rows)
    assert counts["unparsable"] == 6 - parsed_ok
    correct = sum(r["parse_ok"] and r["verdict"] == r["label"] for r in rows)
    assert values["accuracy"] == pytest.approx(correct / 6)
    assert counts["n/iou"] == 3 and values["iou"] is not None
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = [1 if r["label"] == "fake" else 0 for r in rows]
    scores = [r["p_fake"] for r in rows]
    assert all(0.0 < s < 1.0 for s in scores)
    assert values["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert values["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert values["response_tokens"] == pytest.approx(sum(r["num_generated_tokens"] for r in rows) / 6)
    assert metrics["soft_scoring"]["fake_ids"] and metrics["soft_scoring"]["real_ids"]

    # 6. a run directory around it: manifest.json, a real ms-swift SFT log, a verl file log
    stages = []
    for name, kind in (
        ("prepare_data", "data_prep"),
        ("sft", "swift_sft"),
        ("grpo", "verl_grpo"),
        ("eval", "eval"),
        ("report", "report"),
    ):
        stage_dir = run / name
        stage_dir.mkdir(parents=True, exist_ok=True)
        stages.append(
            {
                "name": name,
                "kind": kind,
                "status": "running" if kind == "report" else "completed",
                "stage_dir": str(stage_dir),
                "outputs": {},
                "log": str(run / "logs" / f"{name}.node0.log"),
                "seconds": 3.0,
            }
        )
    (run / "sft" / "output").mkdir()
    (run / "sft" / "output" / "logging.jsonl").write_bytes((DATA / "swift_sft_logging.jsonl").read_bytes())
    verl_file_log(run / "grpo" / "verl_logs" / "aigi-repro" / "fakexplain-linear.jsonl")
    (run / "manifest.json").write_text(
        json.dumps({"paper": "fakexplain", "run_name": "smoke1", "profile": "smoke", "stages": stages})
    )
    results = yaml.safe_load((REPO / "conf" / "results" / "fakexplain.yaml").read_text())
    report = run_module("harness.report", "--run-dir", str(run), "--config-json", json.dumps(results))
    assert report.returncode == 0, report.stderr[-3000:]

    text = (run / "report.md").read_text()
    overall_acc = f"{values['accuracy']:.3f}"
    overall_delta = f"{values['accuracy'] - 0.981:+.3f}"
    assert f"| Overall | 0.981 | {overall_acc} | {overall_delta} |" in text
    sd15 = values.get("accuracy/generator/SD 1.5")
    assert f"| SD 1.5 | 0.975 | {sd15:.3f} |" in text
    assert "| DALL-E 2 | 0.986 | — | — |" in text  # not in this test set
    assert "| JPEG compression (quality 80) | 0.978 | not run |" in text
    for png in ("training_curves.png", "roc_eval.png"):
        assert f"]({png})" in text
        with Image.open(run / png) as image:
            image.verify()
            assert image.format == "PNG"


def test_a_killed_evaluation_resumes_without_duplicates(
    tiny_qwen: Path, make_manifest, tmp_path: Path
) -> None:
    """SIGKILL while images are being written, then a restart: every image exactly once."""
    manifest = make_manifest(8)
    out = tmp_path / "eval"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    options = json.dumps({**EVAL_OPTIONS, "batch_size": 1, "max_new_tokens": 24})
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "harness.evaluation",
            "--manifest",
            str(manifest),
            "--model",
            str(tiny_qwen),
            "--output-dir",
            str(out),
            "--config-json",
            options,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    predictions = out / "predictions.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if predictions.exists() and predictions.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    before = predictions.read_text().count("\n")
    assert before >= 2
    restart = evaluate_cli(manifest, tiny_qwen, out, batch_size=1, max_new_tokens=24)
    assert restart.returncode == 0, restart.stderr[-3000:]
    ids = [json.loads(line)["id"] for line in lines(predictions)]
    assert sorted(ids) == sorted(f"img{k}" for k in range(8)) and len(ids) == 8
    if killed:
        assert f"{before} already in" in restart.stdout
