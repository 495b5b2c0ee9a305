"""`python rundir_driver.py <runs> <source> [overrides ...]`: the harness CLI on a two-stage pipeline.

The real `harness.cli.main` (composition, planning, validation, run-dir lock, runner, error
lines), with the paper's stages replaced by `count` (counts the lines of <source>, optionally
scoring with reward.path) and `recount` (counts the lines of count's output). Each stage
writes what it saw (its line count, a hash of HF_TOKEN) and sleeps COUNT_SLEEP seconds first,
so a test can hold a run open; with COUNT_WORKER set it first starts a worker process that
ignores SIGTERM and writes both PIDs next to its output. A kind registered here, in a subprocess, leaves the registry
of the test process alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import harness.cli
from harness.kinds import Output, StageKind, register_kind
from harness.render import Rendered
from harness.rerun import START_OVER

PAPER = "fake_hr1"
COUNT = """
import hashlib, json, os, subprocess, sys, time
out = sys.argv[2]
if os.environ.get("COUNT_WORKER"):  # a trainer's worker that ignores SIGTERM: only SIGKILL stops it
    worker = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    with open(out + ".pids", "w") as handle:
        handle.write(f"{os.getpid()} {worker.pid}")
time.sleep(float(os.environ.get("COUNT_SLEEP", "0")))
n = sum(1 for _ in open(sys.argv[1]))
token = os.environ.get("HF_TOKEN", "")
with open(out, "w") as handle:
    json.dump({"lines": n, "token_sha256": hashlib.sha256(token.encode()).hexdigest()}, handle)
print("counted", n, flush=True)
"""


def _render(ctx):  # type: ignore[no-untyped-def]
    out = str(Path(ctx.stage_dir) / "count.json")
    # A stage's `options` travel as one JSON argument, as the project's own tools take them.
    options = ("--options", json.dumps(dict(ctx.options), sort_keys=True)) if ctx.options else ()
    return Rendered(
        argv=("python3", "-c", COUNT, str(ctx.inputs["source"]), out, *options),
        env=dict(ctx.env),
        mode="single",
    )


register_kind(
    StageKind(
        name="count_lines",
        command="python3 -c <count lines>",
        render=_render,
        output=Output("count.json"),
        rerun=START_OVER,
        uses_reward=lambda config: bool(config.get("scores")),
    )
)

_load = harness.cli.load_config


def _two_stages(inv):  # type: ignore[no-untyped-def]
    cfg: DictConfig = _load(inv)
    extra = cfg.get("driver") or {}
    OmegaConf.set_struct(cfg, False)
    cfg.stages = {
        "count": {"kind": "count_lines", "inputs": {"source": SOURCE}, "scores": True, **extra},
        "recount": {"kind": "count_lines", "inputs": {"source": "stage:count"}},
    }
    cfg.pipeline = ["count", "recount"]
    cfg.pipeline_edit = None  # the smoke overlay's edit is of the recipe's list, not of this one
    return cfg


harness.cli.load_config = _two_stages  # type: ignore[assignment]

if __name__ == "__main__":
    runs, SOURCE, *overrides = sys.argv[1:]
    argv = [f"paper={PAPER}", "profile=smoke", "cluster=local", f"paths.runs={runs}", *overrides]
    raise SystemExit(harness.cli.main(argv))
