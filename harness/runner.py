"""Run a plan's stages in order, with a run directory, a manifest, and resume.

Running the same command again with the same run name skips completed stages whose recorded
config matches, resumes an interrupted stage where its kind can, and refuses a completed stage
whose config changed (naming the keys) unless `from_stage=` asks for a rerun.

The runner only orchestrates: what a stage kind needs before an attempt (clean its folder,
resume, survive a requeue) is its `RerunRule` (harness.kinds, harness.rerun), and where the
stages run is the launcher's business. The runner hands the launcher the chain of stages to
run (`submit`), records what the launcher reports around each stage, and waits for the outcome
(`wait`); a local launcher runs the chain inside `submit`, Slurm queues it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from omegaconf import OmegaConf

from common.errors import Problem
from harness.jobs import cluster_settings, launcher_for, make_job
from harness.manifest import RunManifest, StageRecord, now, write_text_atomic
from harness.plan import Plan, PlannedStage
from harness.render.values import flatten

if TYPE_CHECKING:  # launch/ is imported lazily: a dry run never needs it
    from launch import ChainResult, Job, Launcher, StageState

# A stage left in one of these states by an earlier invocation did not finish: it resumes when
# its kind can (RerunRule.resumable) and starts over otherwise.
INTERRUPTED = ("running", "failed", "submitted")


@dataclasses.dataclass
class Decision:
    action: str  # run | resume | skip_completed | skip_profile | not_selected
    reason: str = ""


def run_plan(
    plan: Plan,
    subset: Sequence[str] | None = None,
    from_stage: str | None = None,
    out: TextIO | None = None,
    launcher: Launcher | None = None,
) -> int:
    out = out or sys.stdout
    _use_this_environment()  # before the launcher snapshots the environment
    launcher = launcher or launcher_for(plan)
    primary = launcher.is_primary()
    manifest = RunManifest.load(plan.run_dir)
    decisions, problems = decide(plan, manifest, subset, from_stage)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    # Every node installs the copy its stages were rendered with (a run dir may be node-local).
    reward_sha256 = plan.reward.install() if plan.reward is not None else None
    if primary:
        manifest = _open_manifest(plan, manifest, reward_sha256)
        manifest.order_stages([s.name for s in plan.stages])
        manifest.save()
    book = _Book(plan, manifest if primary else None, out)
    chosen: list[Job] = []
    for planned in plan.stages:
        decision = decisions[planned.name]
        if decision.action in ("run", "resume"):
            # Prepared now, before anything of the chain runs: a job that Slurm requeues must
            # find its own checkpoints only, never those of an earlier run.
            chosen.append(book.prepare(planned, decision, requeueable=launcher.requeues))
        else:
            book.not_running(planned, decision)
    if not chosen:
        book.flush_skips()
        print(f"nothing to run: every selected stage has completed ({plan.run_dir})", file=out)
        book.queued([], [])
        return 0
    ids = launcher.submit(chosen, on_start=book.started, on_end=book.ended)
    if not ids:
        book.flush_skips()
        print("not submitted (submit=false); submit with submit=true", file=out)
        return 0
    book.queued(chosen, ids)
    result = launcher.wait(ids)
    book.settle(chosen, result)
    book.flush_skips()
    return _outcome(plan, result, primary, out)


def _outcome(plan: Plan, result: ChainResult, primary: bool, out: TextIO) -> int:
    if result.failed is not None:
        summary = [result.failed, *(s for s in result.not_run if s.terminal)]
        print("\n".join(s.describe() for s in summary), file=sys.stderr)
        return 1
    if result.ok and primary:
        print(f"run complete: {plan.run_dir}", file=out)
    return 0


def decide(
    plan: Plan, manifest: RunManifest | None, subset: Sequence[str] | None, from_stage: str | None
) -> tuple[dict[str, Decision], list[Problem]]:
    """What happens to each stage; problems (changed configs, missing inputs) are collected."""
    names = [s.name for s in plan.stages]
    problems: list[Problem] = []
    if from_stage is not None and from_stage not in names:
        problems.append(
            Problem("from_stage", f"no stage '{from_stage}' in this pipeline; stages: {', '.join(names)}")
        )
        return {}, problems
    rerun_from = names.index(from_stage) if from_stage else len(names)
    decisions: dict[str, Decision] = {}
    will_have: set[str] = set()
    for index, planned in enumerate(plan.stages):
        previous = manifest.stage(planned.name) if manifest else None
        if subset is not None and planned.name not in subset:
            decisions[planned.name] = Decision("not_selected")
            if previous and previous.status == "completed":
                will_have.add(planned.name)
            continue
        if planned.skip_reason:
            decisions[planned.name] = Decision("skip_profile", planned.skip_reason)
            continue
        for producer in planned.spec.producers():
            if producer not in will_have and decisions.get(producer, Decision("")).action != "skip_profile":
                problems.append(
                    Problem(
                        f"stages.{planned.name}.inputs",
                        f"needs the outputs of stage '{producer}', which has not completed in "
                        f"{plan.run_dir}; run it too (stages=[...]) or drop the subset",
                    )
                )
        will_have.add(planned.name)
        if previous is None or index >= rerun_from:
            decisions[planned.name] = Decision("run")
            continue
        if previous.status == "completed":
            changed = _changed_keys(previous.config, stage_fingerprint(plan, planned))
            if changed:
                problems.append(
                    Problem(
                        f"stages.{planned.name}",
                        f"completed in {plan.run_dir} with a different config; changed: "
                        f"{'; '.join(changed)}. Rerun it and everything after it with "
                        f"from_stage={planned.name}, or use another run_name",
                    )
                )
                continue
            if not planned.output.exists():
                decisions[planned.name] = Decision("run", "its outputs are gone")
                continue
            decisions[planned.name] = Decision("skip_completed", f"finished {previous.ended}")
            continue
        interrupted = previous.status in INTERRUPTED
        if interrupted and planned.stage_kind.rerun.resumable:
            decisions[planned.name] = Decision("resume", f"was {previous.status}")
        elif interrupted:
            decisions[planned.name] = Decision("run", f"was {previous.status}; restarting cleanly")
        else:
            decisions[planned.name] = Decision("run")
    return decisions, problems


def stage_fingerprint(plan: Plan, planned: PlannedStage) -> dict[str, Any]:
    """What decides a stage's result: its resolved config, its topology and trainer dialect."""
    fingerprint = {
        f"stages.{planned.name}.{k}": _jsonable(v) for k, v in flatten(planned.spec.config).items()
    }
    fingerprint["cluster.nnodes"] = planned.ctx.nnodes
    fingerprint["cluster.gpus_per_node"] = planned.ctx.gpus_per_node
    if planned.ctx.dialect:
        fingerprint["dialect"] = planned.ctx.dialect.get("name")
    return fingerprint


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = sorted(set(before) | set(after))
    return [
        f"{k} ({before.get(k, '<absent>')!r} -> {after.get(k, '<absent>')!r})"
        for k in keys
        if before.get(k, "<absent>") != after.get(k, "<absent>")
    ]


def _open_manifest(plan: Plan, manifest: RunManifest | None, reward_sha256: str | None) -> RunManifest:
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan.run_dir / "config.yaml", OmegaConf.to_yaml(plan.cfg, resolve=True))
    environment = RunManifest.environment(Path(str(plan.cfg.paths.repo)))
    if manifest is None:
        manifest = RunManifest.create(
            plan.run_dir,
            {
                "paper": plan.paper,
                "run_name": plan.run_name,
                "run_dir": str(plan.run_dir),
                "profile": plan.profile,
                "variant": plan.cfg.get("variant"),
                "cluster": str(plan.cfg.cluster.launcher),
                **environment,
                "invocations": [],
            },
        )
    else:
        manifest.data.update(environment)
    if reward_sha256 is not None:
        manifest.data["reward_sha256"] = reward_sha256
    manifest.data.setdefault("invocations", []).append({"at": now(), "argv": _masked_argv(sys.argv[1:])})
    return manifest


def _masked_argv(argv: Sequence[str]) -> list[str]:
    """Command-line overrides as recorded: a value whose key looks like a secret is masked."""
    from launch.secret_env import is_secret_name

    masked = []
    for item in argv:
        key, sep, _ = item.partition("=")
        leaf = key.lstrip("+~").rsplit(".", 1)[-1]
        masked.append(f"{key}=***" if sep and is_secret_name(leaf.upper()) else item)
    return masked


def _use_this_environment() -> None:
    """Children find this venv's `swift`, `python3` and the project's modules first."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir


class _Book:
    """The run's records and the console, stage by stage, as the launcher reports them."""

    def __init__(self, plan: Plan, manifest: RunManifest | None, out: TextIO) -> None:
        self.plan, self.manifest, self.out = plan, manifest, out
        self.index = {p.name: i for i, p in enumerate(plan.stages, start=1)}
        self.patterns = cluster_settings(plan).get("secret_patterns") or None
        self.attempts: dict[str, tuple[PlannedStage, Decision]] = {}
        self.skips: list[tuple[int, str]] = []  # printed in pipeline order, between the stages
        self.ended_names: set[str] = set()
        self.run_started = time.monotonic()

    def tag(self, name: str) -> str:
        return f"[{self.index[name]}/{len(self.plan.stages)}] {name}"

    def not_running(self, planned: PlannedStage, decision: Decision) -> None:
        if decision.action == "skip_completed":
            self.skips.append(
                (
                    self.index[planned.name],
                    f"{self.tag(planned.name)}: already completed, skipped ({decision.reason})",
                )
            )
        elif decision.action == "skip_profile":
            self.skips.append(
                (
                    self.index[planned.name],
                    f"{self.tag(planned.name)}: skipped in profile {self.plan.profile}: {planned.skip_reason} "
                    f"(command rendered and validated; see dry_run=true)",
                )
            )
            if self.manifest is not None:
                record = self.record(planned)
                record.status, record.skip_reason = "skipped", planned.skip_reason
                record.argv = list(planned.rendered.argv)  # what would run, for the record
                self.manifest.put_stage(record)

    def flush_skips(self, before: int | None = None) -> None:
        waiting = []
        for index, line in self.skips:
            if before is None or index < before:
                print(line, file=self.out)
            else:
                waiting.append((index, line))
        self.skips = waiting

    def prepare(self, planned: PlannedStage, decision: Decision, requeueable: bool) -> Job:
        """Clean the stage's folder or set it up to resume (its kind's rule); the job to launch."""
        argv = planned.stage_kind.rerun.prepare(
            planned.rendered.argv,
            Path(planned.ctx.stage_dir),
            resume=decision.action == "resume",
            requeueable=requeueable,
            verbatim=planned.ctx.verbatim,
        )
        if argv != tuple(planned.rendered.argv):
            rendered = dataclasses.replace(planned.rendered, argv=argv)
            planned = dataclasses.replace(planned, rendered=rendered)
        self.attempts[planned.name] = (planned, decision)
        return make_job(self.plan, planned)

    def record(self, planned: PlannedStage) -> StageRecord:
        previous = self.manifest.stage(planned.name) if self.manifest else None
        record = previous or StageRecord(name=planned.name, kind=planned.kind)
        record.kind = planned.kind
        record.stage_dir = planned.ctx.stage_dir
        record.outputs = {"primary": str(planned.output)}
        record.config = stage_fingerprint(self.plan, planned)
        return record

    def _launched(self, record: StageRecord, job: Job) -> None:
        from launch.secret_env import mask_env

        record.argv = list(job.argv)
        record.env = mask_env(dict(job.env), self.patterns) if self.patterns else mask_env(dict(job.env))
        record.log = job.log_file(0)
        record.skip_reason = None

    def started(self, job: Job) -> None:
        """A stage starts here and now (launchers that run stages in this process)."""
        planned, decision = self.attempts[job.name]
        self.flush_skips(before=self.index[job.name])
        Path(planned.ctx.stage_dir).mkdir(parents=True, exist_ok=True)
        if self.manifest is not None:
            record = self.record(planned)
            self._launched(record, job)
            record.status, record.started, record.ended, record.exit_code = "running", now(), None, None
            record.attempts += 1
            self.manifest.put_stage(record)
        verb = "resuming" if decision.action == "resume" else "running"
        note = f" ({decision.reason})" if decision.reason else ""
        elapsed = _duration(time.monotonic() - self.run_started)
        print(
            f"{self.tag(job.name)}: {verb}{note}; log: {job.log_file(0)} (run time so far {elapsed})",
            file=self.out,
            flush=True,
        )

    def queued(self, jobs: Sequence[Job], ids: Sequence[str]) -> None:
        """Jobs `submit` handed to a scheduler (they have not ended): recorded as submitted."""
        waiting = [(job, job_id) for job, job_id in zip(jobs, ids) if job.name not in self.ended_names]
        if self.manifest is None:
            return
        for job, job_id in waiting:
            record = self.record(self.attempts[job.name][0])
            self._launched(record, job)
            record.status, record.job_id = "submitted", str(job_id)
            record.started, record.ended, record.exit_code = now(), None, None
            self.manifest.put_stage(record)
        self.manifest.data["submission"] = {
            "at": now(),
            "job_ids": [str(job_id) for _, job_id in waiting],
            "stages": [job.name for job, _ in waiting],
        }
        self.manifest.save()

    def ended(self, job: Job, state: StageState) -> None:
        """A stage ended, or will never start because one before it failed."""
        self.ended_names.add(job.name)
        planned, _ = self.attempts[job.name]
        if not state.ran:
            previous = self.manifest.stage(job.name) if self.manifest else None
            if (
                self.manifest is not None
                and previous is not None
                and previous.status in ("submitted", "running")
            ):
                previous.status, previous.exit_code, previous.ended = "pending", None, now()
                self.manifest.put_stage(previous)
            return
        if self.manifest is not None:
            record = self.record(planned)
            record.status = "completed" if state.ok else "failed"
            record.ended, record.exit_code = now(), state.exit_code
            if state.seconds is not None:
                record.seconds = round(state.seconds, 1)
            self.manifest.put_stage(record)
        took = f" in {_duration(state.seconds)}" if state.seconds is not None else ""
        if state.ok:
            print(f"{self.tag(job.name)}: completed{took}", file=self.out, flush=True)
            return
        after = f" after {_duration(state.seconds)}" if state.seconds is not None else ""
        code = state.exit_code or (128 + state.signal if state.signal else 1)
        print(
            f"{self.tag(job.name)}: FAILED with exit code {code}{after}; nothing after it runs.",
            file=sys.stderr,
        )
        log = Path(state.log or job.log_file(0))
        lines = _tail(log, 30)
        if lines:
            print(f"last lines of {log}:\n{lines}", file=sys.stderr)

    def settle(self, jobs: Sequence[Job], result: ChainResult) -> None:
        """Outcomes `wait` found that no hook reported (a scheduler's jobs)."""
        by_name = {job.name: job for job in jobs}
        for state in result.stages:
            if state.terminal and state.stage not in self.ended_names and state.stage in by_name:
                self.ended(by_name[state.stage], state)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])
