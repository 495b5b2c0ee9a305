"""The expert's programs for real on a CPU: a tiny CLIP (the tiny LLaVA-1.6's tower config), the
synthetic AIGI-Holmes images through data_prep, real PEFT LoRA training steps, merge, swap into the
tiny LLaVA-1.6, inference, and collaborative decoding with the transformers backend.

Proofs (issue 16): the merged expert and the unmerged LoRA model give the same logits; the swapped
LLaVA's tower equals the merged expert tensor for tensor and every other tensor is unchanged (hash
per tensor); a mismatching vision config is refused with the differences; training killed with
SIGKILL resumes from its last checkpoint and ends where an uninterrupted run ends; two processes
under torchrun (gloo) end where one process ends; collaborative decoding flips the verdict of the
MLLM where the expert is confident. Slow: about three minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "batch_size": 4,
    "load_size": 64,
    "crop_size": 56,
    "epochs": 3,
    "num_workers": 0,
    "val_batch_size": 8,
    "log_every_steps": 1,
    "save_every_steps": 1,
    "seed": 100,
}


def _run(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from data_prep.tiny_model import build_tiny_clip_vision, build_tiny_llava1_6

    root = tmp_path_factory.mktemp("expert")
    paths = {
        "root": root,
        "clip": build_tiny_clip_vision(root / "clip"),
        "llava": build_tiny_llava1_6(root / "llava"),
    }
    _ok(_run(["-m", "data_prep", "synth", "--layout", "aigi_holmes", "--output-dir", str(root / "synth"),
              "--num-fake", "6", "--num-real", "6", "--num-val", "2", "--size", "96x72"]))  # fmt: skip
    _ok(_run(["-m", "data_prep", "synth", "--layout", "testset_folders", "--output-dir", str(root / "test"),
              "--generators", "FLUX", "--generators", "SD35-L", "--num-fake", "2", "--num-real", "2",
              "--size", "96x72"]))  # fmt: skip
    for name, source in (("train", root / "synth" / "dataset"), ("val", root / "test" / "TestSet")):
        _ok(_run(["-m", "data_prep", "convert", "--source", "testset_folders", "--input", str(source),
                  "--output-dir", str(root / f"prep_{name}")]))  # fmt: skip
        paths[name] = root / f"prep_{name}" / "eval.jsonl"
    return paths


def _train_args(world: dict[str, Path], out: Path, **overrides) -> list[str]:
    return ["-m", "expert", "train", "--train-manifest", str(world["train"]), "--val-manifest", str(world["val"]),
            "--model", str(world["clip"]), "--output-dir", str(out),
            "--config-json", json.dumps({**CONFIG, **overrides})]  # fmt: skip


def _trainable(final: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {
        **load_file(str(final / "adapter_model.safetensors")),
        **load_file(str(final / "head.safetensors")),
    }


@pytest.fixture(scope="module")
def trained(world: dict[str, Path]) -> Path:
    """One uninterrupted single-process run: the reference for resume and torchrun."""
    out = world["root"] / "train_ref"
    _ok(_run(_train_args(world, out)))
    return out


def test_training_writes_the_authors_metrics_and_a_final_adapter(trained: Path) -> None:
    epochs = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(3)) and epochs[-1]["step"] == 12  # 14 images / 4
    values = epochs[0]["val"]
    for key in ("accuracy", "ap", "accuracy/real", "accuracy/fake", "accuracy/generator/FLUX",
                "accuracy/generator/SD35-L", "accuracy/generator_macro", "ap/generator_macro"):  # fmt: skip
        assert key in values, key
    losses = [json.loads(line)["loss"] for line in (trained / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 12 and all(0 < x < 5 for x in losses)
    final = trained / "final"
    meta = json.loads((final / "expert.json").read_text())
    assert meta["preprocess"] == {"load_size": 64, "crop_size": 56, "normalize": "imagenet"}
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (4, 8)
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "out_proj"}
    tensors = _trainable(final)
    # LoRA on every attention projection of both layers, B moved away from its zero start; the head
    assert sum(".lora_A." in k for k in tensors) == 8 and sum(".lora_B." in k for k in tensors) == 8
    assert any(v.abs().sum() > 0 for k, v in tensors.items() if ".lora_B." in k)
    assert tensors["weight"].shape == (1, 32) and tensors["bias"].shape == (1,)
    # the best epoch by mean accuracy over the generators was selected
    best = max(epochs, key=lambda e: (e["val_score"], -e["epoch"]))
    assert meta["epoch"] == best["epoch"] and meta["checkpoint"] == f"step-{best['step']}"


def test_sigkill_then_resume_ends_where_an_uninterrupted_run_ends(
    world: dict[str, Path], trained: Path
) -> None:
    out = world["root"] / "train_killed"
    proc = subprocess.Popen([sys.executable, *_train_args(world, out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    target = out / "checkpoints" / "step-6" / "state.json"  # mid-epoch 1
    while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "final").exists()
    output = _ok(_run(_train_args(world, out)))
    assert "expert: resumed from" in output
    resumed_at = int(output.split("expert: resumed from")[1].split("step-")[1].split()[0])
    assert 6 <= resumed_at < 12
    reference, resumed = _trainable(trained / "final"), _trainable(out / "final")
    assert reference.keys() == resumed.keys()
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), key
    # a changed config is refused instead of mixing two trainings
    refused = _run(_train_args(world, out, lr=3e-4))
    assert refused.returncode == 2 and "lr (0.0001 -> 0.0003)" in refused.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_under_torchrun_end_where_one_process_ends(
    world: dict[str, Path], trained: Path
) -> None:
    out = world["root"] / "train_ddp"
    # what the harness' launchers set for mode torchrun (launch/dist_env.py), 2 CPU processes (gloo)
    env = {"NPROC_PER_NODE": "2", "NNODES": "1", "NODE_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}  # fmt: skip
    output = _ok(_run(_train_args(world, out, save_every_steps=None), env=env))
    assert "2 process(es) x batch 2 on cpu" in output
    reference, ddp = _trainable(trained / "final"), _trainable(out / "final")
    # Equal up to float summation order: torchrun sets OMP_NUM_THREADS=1 and DDP averages two half-batch
    # means, and Adam's normalised step turns that last-bit noise into a visible difference wherever a
    # gradient is near zero (seen once: 1 LoRA-B element of 128 off by 3e-5, the tensor's scale 4e-4).
    # Another data split or no gradient averaging moves the whole tensor (an O(1) relative difference).
    for key in reference:
        tight = torch.isclose(reference[key], ddp[key], atol=1e-5, rtol=1e-4).float().mean().item()
        assert tight >= 0.97, (key, tight)
        assert (reference[key] - ddp[key]).norm() <= 0.05 * reference[key].norm(), key
    ref_epochs = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    ddp_epochs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["val"]["accuracy"] for e in ref_epochs] == [e["val"]["accuracy"] for e in ddp_epochs]


@pytest.fixture(scope="module")
def swapped(world: dict[str, Path], trained: Path) -> Path:
    out = world["root"] / "swap"
    _ok(_run(["-m", "expert", "swap", "--expert", str(trained / "final"), "--llava", str(world["llava"]),
              "--output-dir", str(out)]))  # fmt: skip
    return out


def test_merged_expert_gives_the_unmerged_lora_models_logits(
    world: dict[str, Path], trained: Path, swapped: Path
) -> None:
    from expert.model import load_merged, load_unmerged

    pixels = torch.randn(5, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        unmerged = load_unmerged(trained / "final", world["clip"])(pixels)
        merged = load_merged(swapped / "expert")(pixels)
        base = load_unmerged(trained / "final", world["clip"])
        with base.backbone.disable_adapter():
            without = base(pixels)
    assert torch.allclose(unmerged, merged, atol=1e-5), (unmerged, merged)  # stated tolerance: 1e-5
    assert not torch.allclose(unmerged, without, atol=1e-5)  # the adapters do change the logits


def test_swapped_llava_tower_is_the_merged_expert_and_the_rest_is_unchanged(
    world: dict[str, Path], swapped: Path
) -> None:
    from safetensors.torch import load_file

    from expert.swap import tensor_hashes

    before, after = tensor_hashes(world["llava"]), tensor_hashes(swapped / "llava")
    assert before.keys() == after.keys()
    tower = {k for k in before if "vision_tower." in k}
    assert tower and all(before[k] == after[k] for k in before if k not in tower)
    changed = {k for k in tower if before[k] != after[k]}
    assert changed and all(any(p in k for p in ("q_proj", "k_proj", "v_proj", "out_proj")) for k in changed)
    expert = load_file(str(swapped / "expert" / "model.safetensors"))
    llava = load_file(str(swapped / "llava" / "model.safetensors"))
    for key in tower:
        name = "vision_model." + key.split("vision_tower.", 1)[1].removeprefix("vision_model.")
        assert torch.equal(llava[key], expert[name]), key
    for item in world["llava"].iterdir():
        if item.name != "model.safetensors" and item.is_file():
            assert (swapped / "llava" / item.name).read_bytes() == item.read_bytes(), item.name
    # transformers loads it, and its vision tower is the expert
    from transformers import CLIPVisionModel, LlavaNextForConditionalGeneration

    model = LlavaNextForConditionalGeneration.from_pretrained(swapped / "llava")
    clip = CLIPVisionModel.from_pretrained(swapped / "expert")
    pixels = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(
            model.model.vision_tower(pixels).last_hidden_state, clip(pixels).last_hidden_state, atol=1e-6
        )


def test_a_vision_config_that_differs_is_refused_with_the_differences(
    world: dict[str, Path], swapped: Path, tmp_path: Path
) -> None:
    config = json.loads((world["llava"] / "config.json").read_text())
    config["vision_config"].update({"image_size": 112, "num_hidden_layers": 3})
    other = tmp_path / "llava_other"
    other.mkdir()
    for item in world["llava"].iterdir():
        (other / item.name).write_bytes(item.read_bytes())
    (other / "config.json").write_text(json.dumps(config))
    proc = _run(["-m", "expert", "swap", "--expert", str(swapped.parent / "train_ref" / "final"),
                 "--llava", str(other), "--output-dir", str(tmp_path / "out")])  # fmt: skip
    assert proc.returncode == 2
    assert (
        "image_size: expert 56 vs LLaVA 112" in proc.stderr
        and "num_hidden_layers: expert 2 vs LLaVA 3" in proc.stderr
    )
    assert not (tmp_path / "out").exists()  # checked before anything is merged or written


def test_inference_writes_the_file_collaborative_decoding_reads(
    world: dict[str, Path], swapped: Path
) -> None:
    from harness.evaluation.collaborative_decoding import load_expert_probabilities
    from harness.evaluation.manifest import read_manifest

    out = world["root"] / "infer"
    _ok(_run(["-m", "expert", "infer", "--expert", str(swapped / "expert"), "--manifest", str(world["val"]),
              "--output-dir", str(out), "--config-json", json.dumps({"num_workers": 1, "batch_size": 3})]))  # fmt: skip
    probabilities = load_expert_probabilities(out / "expert_probs.jsonl")
    assert set(probabilities) == {item.id for item in read_manifest(world["val"])}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_images"] == 8
    assert {"accuracy", "ap", "auc", "accuracy/generator/FLUX", "accuracy/real"} <= set(metrics["values"])
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(r["verdict"] == ("fake" if r["p_fake"] > 0.5 else "real") for r in rows)


def test_collaborative_decoding_follows_a_confident_expert_where_the_mllm_is_unsure(
    world: dict[str, Path], swapped: Path, tmp_path: Path
) -> None:
    """The MLLM (the swapped tiny LLaVA-1.6, random language weights) is unsure; an expert at 0.999 for
    the other verdict decides it. The expert's confidence is set by the test: a few CPU steps do not
    make the tiny expert confident."""
    from data_prep import cpu_compat
    from harness.evaluation.config import parse_eval_config
    from harness.evaluation.runner import evaluate

    cpu_compat.apply()
    ids = [json.loads(x)["id"] for x in world["val"].read_text().splitlines()][:4]
    base = {"backend": "transformers", "response_format": "free_text_verdict", "max_new_tokens": 6,
            "dtype": "float32", "metrics": ["accuracy"], "limit": 4, "batch_size": 4,
            "soft_scoring": {"position": "answer", "fake_words": ["fake"], "real_words": ["real"]}}  # fmt: skip
    collab = {"target_text": "This image is", "real_word": "real", "fake_word": "fake", "force_prefix": True}

    def run(name: str, probabilities: dict[str, float]) -> list[dict]:
        probs = tmp_path / f"{name}.jsonl"
        probs.write_text("".join(json.dumps({"id": i, "p_fake": p}) + "\n" for i, p in probabilities.items()))
        config = parse_eval_config({**base, "collaborative_decoding": {**collab, "expert_probs": str(probs)}})
        evaluate(str(world["val"]), str(swapped / "llava"), str(tmp_path / name), config, log=lambda m: None)
        return [json.loads(x) for x in (tmp_path / name / "predictions.jsonl").read_text().splitlines()]

    # p = 0.5 adds the same bias to both verdicts: the MLLM's own choice at the forced position
    alone = run("neutral", dict.fromkeys(ids, 0.5))
    assert all(r["response"].startswith("This image is") and r["verdict"] in ("real", "fake") for r in alone)
    # an expert at 0.999 for the other verdict (a logit bias of log(999) = 6.9) decides every image:
    # the random-weight MLLM's margin between "real" and "fake" is smaller than that
    against = {r["id"]: (0.001 if r["verdict"] == "fake" else 0.999) for r in alone}
    combined = {r["id"]: r for r in run("against", against)}
    for row in alone:
        expected = "fake" if against[row["id"]] > 0.5 else "real"
        assert combined[row["id"]]["verdict"] == expected != row["verdict"], (row, combined[row["id"]])
        assert combined[row["id"]]["expert_p_fake"] == against[row["id"]]
    # control: an expert that agrees changes nothing
    agree = {i: 1.0 - p for i, p in against.items()}
    assert [r["verdict"] for r in run("agree", agree)] == [r["verdict"] for r in alone]
