"""The manifest keeps every attempt of a stage (start, end, exit code, how it ended), not only the last.

The stage's own program is replaced by a real process that exits 3, then 0 (the runner's records are
under test, not the stage); everything else is the real runner with the real local launcher."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from harness.config import compose
from harness.plan import build_plan
from harness.runner import run_plan
from launch import make_launcher
from launch.job import Job


class ExitCodes:
    """A local launcher whose stages exit with the next code of `codes` (one process each)."""

    def __init__(self, plan, codes: list[int]):  # type: ignore[no-untyped-def]
        from harness.jobs import cluster_settings

        self.inner = make_launcher(cluster_settings(plan))
        self.codes = codes

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def submit(self, jobs, script_dir=None, after=(), on_start=None, on_end=None):  # type: ignore[no-untyped-def]
        code = self.codes.pop(0)
        replaced = [
            Job(
                job.name,
                (sys.executable, "-c", f"raise SystemExit({code})"),
                log_dir=job.log_dir,
                workdir=job.workdir,
            )
            for job in jobs
        ]
        by_name = {job.name: job for job in jobs}

        def started(job):  # type: ignore[no-untyped-def]
            on_start(by_name[job.name])

        def ended(job, state):  # type: ignore[no-untyped-def]
            on_end(by_name[job.name], state)

        return self.inner.submit(replaced, script_dir, after, started, ended)


def test_every_attempt_is_kept(tmp_path: Path) -> None:
    cfg = compose(["paper=fakexplain", "profile=smoke", f"paths.runs={tmp_path}", "run_name=a"])
    plan = build_plan(cfg, launch=True)
    first = plan.stages[0].name
    assert run_plan(plan, subset=[first], out=io.StringIO(), launcher=ExitCodes(plan, [3])) == 1
    assert run_plan(plan, subset=[first], out=io.StringIO(), launcher=ExitCodes(plan, [0])) == 0
    manifest = json.loads((plan.run_dir / "manifest.json").read_text())
    record = next(s for s in manifest["stages"] if s["name"] == first)
    history = record["history"]
    assert [(h["outcome"], h["exit_code"]) for h in history] == [("failed", 3), ("completed", 0)]
    for attempt in history:
        assert attempt["started"] and attempt["ended"] and attempt["started"] <= attempt["ended"]
        assert attempt["seconds"] is not None and attempt["seconds"] >= 0
    assert record["status"] == "completed" and record["attempts"] == 2
    assert record["started"] == history[-1]["started"]  # the top-level fields are the last attempt's
    stage_json = json.loads((Path(record["stage_dir"]) / "stage.json").read_text())
    assert stage_json["history"] == history
