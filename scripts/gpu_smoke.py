"""`make gpu-smoke`: the whole GPU check on one GPU, in minutes, installing the gpu set first.

On the first machine with an NVIDIA GPU this one command proves what the CPU machines cannot: the
gpu extra installs from wheels (common/gpu_install.py) and the paper's pipeline runs for real in
the gpu_smoke profile (conf/profile_paper/gpu_smoke_<paper>.yaml): `swift sft` steps with the
attention implementation the recipes render, the LoRA merge, verl GRPO steps with vLLM rollouts
and the project's reward, verl's merge to Hugging Face format, evaluation through vLLM with
collaborative decoding and soft scoring, and the report. It prints one line per check (PASS or
FAIL, seconds, what was seen) and exits 1 on any failure.

    python3 scripts/gpu_smoke.py [--paper fakexplain] [--run-name NAME] [--skip-install]
    python3 scripts/gpu_smoke.py --plan-only   # compose, render and validate; nothing runs

--plan-only plans with this Python when it has the harness's dependencies, else with the CPU set's
(.venv) or the gpu set's (.venv-gpu): `make gpu-smoke ARGS=--plan-only` runs the system python3.

Standard library only: it runs before the GPU environment exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import gpu_env  # noqa: E402  (stdlib only, like this script)

PROFILE = "gpu_smoke"
MIN_GLIBC = (2, 31)  # vLLM 0.24's llguidance wheels (common/gpu_install.py)
DATA_KINDS = ("data_prep", "download")
GRPO_STEPS = 2
EXPERT_FILE = "expert_probs.jsonl"  # conf/profile_paper/gpu_smoke_<paper>.yaml reads it from the run dir


@dataclass
class Check:
    name: str
    passed: bool
    seconds: float
    detail: str = ""

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name:<26} {self.seconds:7.1f}s  {self.detail}"


def timed(name: str, action: Callable[[], tuple[bool, str]]) -> Check:
    start = time.monotonic()
    try:
        passed, detail = action()
    except Exception as exc:  # a check that crashes is a failed check, reported like the others
        passed, detail = False, f"{type(exc).__name__}: {exc}"
    return Check(name, passed, time.monotonic() - start, detail)


# --- the harness invocations ---------------------------------------------------------------------


def harness_argv(python: str, paper: str, run_name: str, *extra: str) -> list[str]:
    # The profile reads the expert file from <run dir>/expert_probs.jsonl (EXPERT_FILE).
    return [python, "-m", "harness", f"paper={paper}", f"profile={PROFILE}", f"run_name={run_name}", *extra]


def run_dir(paper: str, run_name: str) -> Path:
    return REPO / "runs" / paper / run_name


# --- what the outputs must show -----------------------------------------------------------------


def write_expert_probs(manifest: Path, out: Path, confidence: float = 0.95) -> dict[str, str]:
    """A confident expert that knows every label: {"id", "p_fake"} per eval image; returns id -> label."""
    labels: dict[str, str] = {}
    lines = []
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        labels[str(row["id"])] = str(row["label"])
        p_fake = confidence if row["label"] == "fake" else 1.0 - confidence
        lines.append(json.dumps({"id": row["id"], "p_fake": p_fake}))
    out.write_text("\n".join(lines) + "\n")
    return labels


def stage_checks(run: Path) -> list[Check]:
    """One check per stage of the run's manifest: completed, with the seconds it took."""
    manifest = json.loads((run / "manifest.json").read_text())
    checks = []
    for record in manifest.get("stages", []):
        status = record.get("status")
        seconds = float(record.get("seconds") or 0.0)
        checks.append(
            Check(f"stage {record['name']}", status == "completed", seconds, f"{record['kind']}: {status}")
        )
    return checks


def output_checks(run: Path, labels: dict[str, str], target: str = "This image is") -> list[Check]:
    """What each kind of stage must have produced, read from the run directory."""
    manifest = json.loads((run / "manifest.json").read_text())
    checks: list[Check] = []
    for record in manifest.get("stages", []):
        kind, stage_dir = record["kind"], Path(record["stage_dir"])
        check = {
            "swift_sft": _swift_checkpoint,
            "verl_grpo": _verl_steps,
            "verl_merge": _hf_folder,
            "eval": lambda d: _predictions(d, labels, target),
        }.get(kind)
        if check is not None:
            checks.append(timed(f"{record['name']} output", lambda c=check, d=stage_dir: c(d)))
    checks.append(timed("report", lambda: _report(run)))
    return checks


def _swift_checkpoint(stage_dir: Path) -> tuple[bool, str]:
    final = stage_dir / "final"
    args_file = final / "args.json"
    if not args_file.is_file():
        return False, f"no {args_file}"
    args = json.loads(args_file.read_text())
    return (
        True,
        f"checkpoint {final.resolve().name}, attn_impl {args.get('attn_impl')}, deepspeed {args.get('deepspeed') is not None}",
    )


def _verl_steps(stage_dir: Path) -> tuple[bool, str]:
    steps: dict[int, dict[str, float]] = {}
    for path in stage_dir.rglob("*.jsonl"):
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("data"), dict) and "step" in row:
                steps[int(row["step"])] = row["data"]
    rewards = {s: v for s, d in steps.items() for k, v in d.items() if k.startswith("critic/score/mean")}
    passed = len(steps) >= GRPO_STEPS and len(rewards) >= GRPO_STEPS
    return passed, f"{len(steps)} steps logged, reward per step {rewards}"


def _hf_folder(stage_dir: Path) -> tuple[bool, str]:
    config = stage_dir / "hf" / "config.json"
    weights = list((stage_dir / "hf").glob("*.safetensors"))
    return config.is_file() and bool(
        weights
    ), f"{config.parent}: config.json {config.is_file()}, {len(weights)} safetensors"


def _predictions(stage_dir: Path, labels: dict[str, str], target: str) -> tuple[bool, str]:
    rows = [
        json.loads(line)
        for line in (stage_dir / "predictions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    if not rows:
        return False, "no predictions"
    scored = sum(r.get("p_fake") is not None for r in rows)
    forced = sum(str(r.get("response", "")).startswith(target) for r in rows)
    # The expert decides every verdict at weight 5: the word after the target is its label.
    followed = sum(
        str(r.get("response", ""))[len(target) :].strip().lower().startswith(labels.get(str(r["id"]), "?"))
        for r in rows
    )
    passed = scored == forced == followed == len(rows)
    return passed, (
        f"{len(rows)} images: {scored} soft-scored, {forced} forced by the logits processor, "
        f"{followed} verdicts follow the expert"
    )


def _report(run: Path) -> tuple[bool, str]:
    report = run / "report.md"
    return report.is_file() and report.stat().st_size > 0, str(report)


# --- the machine ---------------------------------------------------------------------------------


def gpu_check() -> tuple[bool, str]:
    if not gpu_env.gpu_available():
        return False, "no NVIDIA GPU is visible: make gpu-smoke runs on a GPU machine"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return True, "GPU device found (no nvidia-smi)"
    query = "--query-gpu=name,memory.total,driver_version"
    proc = subprocess.run([smi, query, "--format=csv,noheader"], capture_output=True, text=True, timeout=60)
    return proc.returncode == 0, proc.stdout.strip().splitlines()[
        0
    ] if proc.stdout.strip() else proc.stderr.strip()


def glibc_check() -> tuple[bool, str]:
    name, version = platform.libc_ver()
    numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) if version else ()
    passed = name == "glibc" and numbers >= MIN_GLIBC
    return passed, f"{name} {version} (the gpu set needs glibc >= {'.'.join(map(str, MIN_GLIBC))})"


def plan_python() -> str | None:
    """A Python that can compose the configs: this one, else the CPU set's, else the gpu set's."""
    if all(importlib.util.find_spec(name) is not None for name in ("omegaconf", "hydra")):
        return sys.executable
    for venv in (".venv", gpu_env.GPU_VENV):
        python = REPO / venv / "bin" / "python"
        if python.is_file():
            return str(python)
    return None


def run_logged(argv: Sequence[str], log: Path) -> tuple[bool, str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(f"\n$ {' '.join(argv)}\n")
        handle.flush()
        proc = subprocess.run(list(argv), cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    return proc.returncode == 0, f"exit {proc.returncode}, log {log}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", default="fakexplain")
    parser.add_argument("--run-name", default=f"gpu-smoke-{datetime.now():%Y%m%d-%H%M%S}")
    parser.add_argument("--skip-install", action="store_true", help="use the existing .venv-gpu as it is")
    parser.add_argument("--plan-only", action="store_true", help="compose, render and validate; run nothing")
    args = parser.parse_args(argv)
    run = run_dir(args.paper, args.run_name)
    expert = run / EXPERT_FILE
    if args.plan_only:
        planner = plan_python()
        if planner is None:
            print(
                "--plan-only needs a Python with the harness's dependencies: this one has none and "
                f"neither {REPO / '.venv'} nor {REPO / gpu_env.GPU_VENV} exists; run `make install` "
                "(the CPU set, minutes) or `make install-gpu` first",
                file=sys.stderr,
            )
            return 2
        cmd = harness_argv(planner, args.paper, args.run_name, "dry_run=true")
        return subprocess.run(cmd, cwd=REPO).returncode

    checks: list[Check] = []

    def report(check: Check) -> bool:
        checks.append(check)
        print(check.line(), flush=True)
        return check.passed

    log = REPO / "runs" / args.paper / f"{args.run_name}.gpu_smoke.log"
    if not report(timed("NVIDIA GPU", gpu_check)):
        return 1
    report(timed("glibc", glibc_check))
    python = str(REPO / gpu_env.GPU_VENV / "bin" / "python")
    if not args.skip_install:
        make = ["make", "-C", str(REPO), "install-gpu", "GPU=1"]
        if not report(timed("install gpu extra", lambda: run_logged(make, log))):
            return 1
    env_check = [python, "-m", "common.gpu_env", "check", "vllm", "deepspeed"]
    if not report(timed("gpu environment", lambda: run_logged(env_check, log))):
        return 1
    data = ("tiny_model", "synth_data", "prepare_data")
    prepare = harness_argv(python, args.paper, args.run_name, f"stages=[{','.join(data)}]")
    if not report(timed("data and tiny model", lambda: run_logged(prepare, log))):
        return 1
    labels: dict[str, str] = {}

    def expert_file() -> tuple[bool, str]:
        labels.update(write_expert_probs(run / "prepare_data" / "eval.jsonl", expert))
        return bool(labels), f"{len(labels)} images, {expert}"

    if not report(timed("expert probabilities", expert_file)):
        return 1
    pipeline = harness_argv(python, args.paper, args.run_name)
    report(timed("pipeline", lambda: run_logged(pipeline, log)))
    if (run / "manifest.json").is_file():
        for check in stage_checks(run) + output_checks(run, labels):
            report(check)
    failed = [c.name for c in checks if not c.passed]
    total = sum(c.seconds for c in checks if not c.name.startswith("stage "))
    print(
        f"{'FAILED' if failed else 'PASSED'}: {len(checks) - len(failed)}/{len(checks)} checks in {total:.0f}s; log {log}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
