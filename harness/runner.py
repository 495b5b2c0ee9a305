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
import hashlib
import json
import os
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from omegaconf import OmegaConf

from common.atomic import write_text
from common.errors import HarnessError, Problem
from harness.jobs import cluster_settings, launcher_for, make_job
from harness.manifest import RunManifest, StageRecord, UnreadableManifestError, now
from harness.plan import Plan, PlannedStage
from harness.render.values import flatten
from harness.rundir import Interrupted, RunLock, stop_signals_raise
from harness.stage_store import StoreEntry, entry_for, shareable, sharing_enabled
from harness.stage_store import describe as describe_entry
from launch.secret_env import DEFAULT_SECRET_PATTERNS, MASK, is_secret_name

if TYPE_CHECKING:  # launch/ is imported lazily: a dry run never needs it
    from launch import ChainResult, Job, Launcher, StageState

# A stage left in one of these states by an earlier invocation did not finish: it resumes when
# its kind can (RerunRule.resumable) and starts over otherwise.
INTERRUPTED = ("running", "failed", "submitted", "interrupted")


@dataclasses.dataclass
class Decision:
    # run | resume | skip_completed | skip_profile | not_selected | reuse | await (harness.stage_store:
    # a shared entry another run's job is running on the scheduler; `job_id` is that job, None when
    # an earlier run of this process wrote the job's script without submitting it: submit=false)
    action: str
    reason: str = ""
    job_id: str | None = None


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
    # One invocation per run directory (the submitting process, on Slurm); other nodes of a
    # multi-node run only read it.
    lock = RunLock(plan.run_dir, plan.run_name).acquire() if primary else None
    try:
        with stop_signals_raise():
            return _run_locked(plan, subset, from_stage, out, launcher, primary)
    except Interrupted as stop:  # before any stage started
        print(f"interrupted by {stop.signame}; nothing was started", file=sys.stderr)
        return 128 + stop.signum
    finally:
        if lock is not None:
            lock.release(discard=True)


def _run_locked(
    plan: Plan,
    subset: Sequence[str] | None,
    from_stage: str | None,
    out: TextIO,
    launcher: Launcher,
    primary: bool,
) -> int:
    manifest = _load_manifest(plan, from_stage)
    decisions, problems = decide(plan, manifest, subset, from_stage)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    for planned in plan.stages:  # a job the launcher refuses is refused before anything is written
        if decisions[planned.name].action in ("run", "resume"):
            make_job(plan, planned)
    store: dict[str, StoreEntry] = {}
    try:
        if sharing_enabled(plan.cfg) and primary:
            store = _use_store(plan, decisions, from_stage, launcher)
        return _run_decided(plan, manifest, decisions, store, out, launcher, primary)
    finally:
        for entry in store.values():
            entry.release()


def _use_store(
    plan: Plan,
    decisions: dict[str, Decision],
    from_stage: str | None = None,
    launcher: Launcher | None = None,
) -> dict[str, StoreEntry]:
    """Link each stage this run would run to its shared entry: reused when published, else held.

    Stages from `from_stage` on are rerun in the run's own folder: asked to redo them, reusing
    them would not, and redoing them inside the entry would change what other runs link to.
    On a scheduler, an entry whose job (queued by another run) is still queued or running is
    awaited: this run's chain starts after that job instead of running the stage again.
    """
    names = [p.name for p in plan.stages]
    own = set(names[names.index(from_stage) :]) if from_stage in names else set()
    store: dict[str, StoreEntry] = {}
    try:
        for planned in plan.stages:
            decision = decisions[planned.name]
            if decision.action not in ("run", "resume") or not shareable(planned.stage_kind):
                continue
            if planned.name in own:
                stage_dir = Path(planned.ctx.stage_dir)
                if stage_dir.is_symlink():
                    stage_dir.unlink()
                continue
            entry = entry_for(plan.run_dir, planned.name, stage_fingerprint(plan, planned, portable=True))
            where = describe_entry(plan.run_dir, entry.path)
            store[planned.name] = entry
            entry.link(Path(planned.ctx.stage_dir))
            if entry.published is not None and planned.output.exists():
                decisions[planned.name] = Decision("reuse", f"shared {where}")
                continue
            queued = entry.queued if launcher is not None else None
            if launcher is not None and queued is not None:
                job_id = str(queued["job_id"])
                if not launcher.schedules:
                    _refuse_entry_of_a_live_job(entry, job_id, where)
                elif launcher.active(job_id):
                    decisions[planned.name] = Decision(
                        "await", f"shared {where}, run by job {job_id}", job_id
                    )
                    continue
            written_by = entry.written_by if launcher is not None and launcher.schedules else None
            if written_by is not None and written_by != plan.run_dir:
                decisions[planned.name] = Decision(
                    "await", f"shared {where}, its script written by {written_by.name} (not submitted)"
                )
                continue
            entry.lock()
            if decision.action == "run" and entry.started() and planned.stage_kind.rerun.resumable:
                decisions[planned.name] = Decision("resume", f"shared {where} was interrupted")
            else:
                decisions[planned.name] = Decision(decision.action, f"into shared {where}")
    except BaseException:
        for entry in store.values():
            entry.release()
        raise
    return store


def _refuse_entry_of_a_live_job(entry: StoreEntry, job_id: str, where: str) -> None:
    """A run here must not write into an entry a Slurm job (queued by another submission) is
    running or will run: both would write the same folder. Slurm is asked when it can be; a job it
    no longer knows has ended (failed: it did not publish), so the entry is this run's to redo."""
    from launch.slurm_state import job_active

    active = job_active(job_id)
    if active is False:
        return
    if active:
        raise HarnessError(
            f"shared stage {where} is being run by Slurm job {job_id} (queued by another submission); "
            "run this again when that job has ended (it will reuse the result), or cancel it "
            f"(scancel {job_id}) to run the stage here"
        )
    raise HarnessError(
        f"shared stage {where} was queued as Slurm job {job_id} and is not published, and this "
        "machine cannot ask Slurm whether that job still runs (no scontrol, or the controller did not "
        f"answer); if it has ended, delete {entry.queued_file} and run this again"
    )


def _run_decided(
    plan: Plan,
    manifest: RunManifest | None,
    decisions: dict[str, Decision],
    store: dict[str, StoreEntry],
    out: TextIO,
    launcher: Launcher,
    primary: bool,
) -> int:
    # Every node installs the copy its stages were rendered with (a run dir may be node-local).
    reward_sha256 = plan.reward.install() if plan.reward is not None else None
    if primary:
        manifest = _open_manifest(plan, manifest, reward_sha256)
        manifest.order_stages([s.name for s in plan.stages])
        manifest.save()
    book = _Book(plan, manifest if primary else None, out)
    book.store = store
    book.scheduled = launcher.schedules
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
    # the jobs of other runs that run shared entries this run reads (harness.stage_store)
    after = list(dict.fromkeys(d.job_id for d in decisions.values() if d.action == "await" and d.job_id))
    try:
        ids = launcher.submit(chosen, after=after, on_start=book.started, on_end=book.ended)
        if not ids:
            for job in chosen:  # a later run of the table shows these as this run's (harness.stage_store)
                if job.name in store:
                    store[job.name].mark_written(plan.run_dir)
            book.flush_skips()
            print("not submitted (submit=false); submit with submit=true", file=out)
            return 0
        book.queued(chosen, ids)
        result = launcher.wait(ids)
    except Interrupted as stop:
        return book.interrupted(stop)
    book.settle(chosen, result)
    book.flush_skips()
    return _outcome(plan, result, primary, out)


def _load_manifest(plan: Plan, from_stage: str | None) -> RunManifest | None:
    """The run's manifest; a corrupt one is rebuilt from stage.json, or explained in one line."""
    try:
        manifest = RunManifest.load(plan.run_dir)
    except UnreadableManifestError as exc:
        first = plan.stages[0].name
        if from_stage == first:
            print(f"{exc}; starting the run over (from_stage={first})", file=sys.stderr)
            return None
        raise HarnessError(
            f"{exc}: rerun every stage with from_stage={first}, or use another run_name"
        ) from None
    if manifest is not None and manifest.rebuilt:
        print(manifest.rebuilt, file=sys.stderr)
    return manifest


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
    refused: set[str] = set()
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
        stale = _stale_inputs(planned, previous, manifest, decisions)
        if previous.status == "completed":
            changed = [
                change
                for change in _changed_keys(previous.config, stage_fingerprint(plan, planned))
                if change.split(" ", 1)[0].removeprefix("upstream.") not in refused
            ]
            if changed:
                refused.add(planned.name)
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
            if stale:
                decisions[planned.name] = Decision("run", stale)
                continue
            decisions[planned.name] = Decision("skip_completed", f"finished {previous.ended}")
            continue
        interrupted = previous.status in INTERRUPTED
        if stale:
            decisions[planned.name] = Decision("run", stale)
        elif interrupted and planned.stage_kind.rerun.resumable:
            decisions[planned.name] = Decision("resume", f"was {previous.status}")
        elif interrupted:
            decisions[planned.name] = Decision("run", f"was {previous.status}; restarting cleanly")
        else:
            decisions[planned.name] = Decision("run")
    return decisions, problems


def stage_fingerprint(plan: Plan, planned: PlannedStage, portable: bool = False) -> dict[str, Any]:
    """What decides a stage's result, as recorded and compared on resume.

    Its declared config (secrets masked; values its kind derives from upstream outputs are in
    the argv, not here), its topology and trainer dialect, the content of the reward file it
    scores with, and a digest of the fingerprint of every stage whose output it consumes, so a
    change upstream reaches every stage downstream of it.

    `portable`: paths inside the run directory are written relative to it (`<run>/...`), so the
    same stage of two runs has one fingerprint: the shared stage store's key (the GRPO stage's
    reward path is the run's own copy of the file, whose content reward.sha256 already holds).
    The manifest keeps the absolute form, which resumes compare against.
    """
    patterns = _secret_patterns(plan)
    config = planned.declared if planned.declared is not None else planned.spec.config
    prefix = f"{plan.run_dir}/" if portable else None
    fingerprint: dict[str, Any] = {}
    for key, value in flatten(config).items():
        secret = is_secret_name(str(key).rsplit(".", 1)[-1], patterns)
        fingerprint[f"stages.{planned.name}.{key}"] = MASK if secret else _jsonable(value, prefix)
    fingerprint["cluster.nnodes"] = planned.ctx.nnodes
    fingerprint["cluster.gpus_per_node"] = planned.ctx.gpus_per_node
    if planned.ctx.dialect:
        fingerprint["dialect"] = planned.ctx.dialect.get("name")
    if plan.reward is not None and planned.stage_kind.uses_reward(planned.spec.config):
        fingerprint["reward.sha256"] = plan.reward.source_sha256()
    for producer in planned.spec.producers():
        upstream = stage_fingerprint(plan, plan.stage(producer), portable)
        digest = hashlib.sha256(json.dumps(upstream, sort_keys=True, default=str).encode()).hexdigest()
        fingerprint[f"upstream.{producer}"] = digest[:16]
    return fingerprint


def _secret_patterns(plan: Plan) -> tuple[str, ...]:
    patterns = OmegaConf.select(plan.cfg, "cluster.secret_patterns", default=None)
    return tuple(str(p) for p in patterns) if patterns else DEFAULT_SECRET_PATTERNS


def masked_config(value: Any, patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> Any:
    """A plain copy of a config in which every value under a secret-looking key is `***`."""
    if isinstance(value, dict):
        return {
            k: (MASK if v is not None and is_secret_name(str(k), patterns) else masked_config(v, patterns))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked_config(v, patterns) for v in value]
    return value


def _stale_inputs(
    planned: PlannedStage, previous: StageRecord, manifest: RunManifest | None, decisions: dict[str, Decision]
) -> str:
    """Why the outputs this stage consumed are no longer current ('' when they are)."""
    for producer in planned.spec.producers():
        if decisions.get(producer, Decision("")).action in ("run", "resume"):
            return f"stage '{producer}' reruns"
        used = previous.consumed.get(producer)
        now_there = manifest.stage(producer) if manifest else None
        if used and now_there is not None and now_there.output_id != used:
            return f"stage '{producer}' completed again since"
    return ""


def _jsonable(value: Any, run_prefix: str | None = None) -> Any:
    """`run_prefix`: a string under it is written relative to the run (stage_fingerprint portable)."""
    if isinstance(value, str) and run_prefix and value.startswith(run_prefix):
        return "<run>/" + value.removeprefix(run_prefix)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, run_prefix) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, run_prefix) for k, v in value.items()}
    return str(value)


# Fingerprint keys a record written by an older harness lacks: their absence is no change.
_CHAINED = ("upstream.", "reward.sha256")


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = sorted(set(before) | {k for k in after if k in before or not k.startswith(_CHAINED)})
    return [
        f"{k} ({before.get(k, '<absent>')!r} -> {after.get(k, '<absent>')!r})"
        for k in keys
        if before.get(k, "<absent>") != after.get(k, "<absent>")
    ]


def _open_manifest(plan: Plan, manifest: RunManifest | None, reward_sha256: str | None) -> RunManifest:
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    # Secrets reach the launched process through its environment only, never this file.
    config = masked_config(OmegaConf.to_container(plan.run_config(), resolve=True), _secret_patterns(plan))
    write_text(plan.run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(config)))
    environment = RunManifest.environment(Path(str(plan.cfg.paths.repo)))
    header = {
        "paper": plan.paper,
        "run_name": plan.run_name,
        "run_dir": str(plan.run_dir),
        "profile": plan.profile,
        "variant": plan.cfg.get("variant"),
        "cluster": str(plan.cfg.cluster.launcher),
    }
    if manifest is None:
        manifest = RunManifest.create(plan.run_dir, {**header, **environment, "invocations": []})
    else:
        manifest.data.update(environment)
        for key, value in header.items():  # a manifest rebuilt from stage.json has none
            manifest.data.setdefault(key, value)
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


def _resume_command(plan: Plan) -> str:
    """This invocation again, on the same run (secrets masked, no from_stage: nothing is redone)."""
    keep = [a for a in _masked_argv(sys.argv[1:]) if not a.startswith(("run_name=", "from_stage="))]
    return shlex.join(["python", "-m", "harness", *keep, f"run_name={plan.run_name}"])


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
        self.current: tuple[str, float] | None = None  # the stage running in this process, since
        self.store: dict[
            str, StoreEntry
        ] = {}  # shared stages (harness.stage_store): reused or published here
        self.scheduled = False  # the launcher's jobs end after this process returned (Slurm)

    def tag(self, name: str) -> str:
        return f"[{self.index[name]}/{len(self.plan.stages)}] {name}"

    def not_running(self, planned: PlannedStage, decision: Decision) -> None:
        if decision.action == "reuse":
            self.skips.append(
                (self.index[planned.name], f"{self.tag(planned.name)}: reused ({decision.reason})")
            )
            published = self.store[planned.name].published or {}
            if self.manifest is not None:
                record = self.record(planned)
                record.status, record.ended, record.exit_code = "completed", now(), 0
                record.skip_reason = f"reused: {decision.reason}"
                record.output_id = str(published.get("output_id") or uuid.uuid4().hex)
                record.consumed = {
                    p: getattr(self.manifest.stage(p), "output_id", None) for p in planned.spec.producers()
                }
                self.manifest.put_stage(record)
        elif decision.action == "await" and decision.job_id is None:  # submit=false: nothing queued
            self.skips.append(
                (
                    self.index[planned.name],
                    f"{self.tag(planned.name)}: no script here: {decision.reason}; "
                    "with submit=true this run's chain waits for that job",
                )
            )
        elif decision.action == "await":
            self.skips.append(
                (
                    self.index[planned.name],
                    f"{self.tag(planned.name)}: not submitted again: {decision.reason}; this run waits for it",
                )
            )
            if self.manifest is not None:
                record = self.record(planned)
                record.status, record.job_id = "submitted", decision.job_id
                record.started, record.ended, record.exit_code = now(), None, None
                record.skip_reason = decision.reason
                self.manifest.put_stage(record)
        elif decision.action == "skip_completed":
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
        job = make_job(self.plan, planned)
        if self.scheduled and planned.name in self.store:
            # The job itself publishes the shared entry when it succeeds (this process is gone).
            publish = self.store[planned.name].prepare_publication(uuid.uuid4().hex, self.plan.run_dir)
            job = dataclasses.replace(job, post_argv=(*job.post_argv, tuple(publish)))
        return job

    def record(self, planned: PlannedStage) -> StageRecord:
        previous = self.manifest.stage(planned.name) if self.manifest else None
        record = previous or StageRecord(name=planned.name, kind=planned.kind)
        record.kind = planned.kind
        record.stage_dir = planned.ctx.stage_dir
        record.outputs = {"primary": str(planned.output)}
        record.config = stage_fingerprint(self.plan, planned)
        return record

    def _launched(self, record: StageRecord, job: Job) -> None:
        from launch.secret_env import mask_argv, mask_env

        patterns = self.patterns or DEFAULT_SECRET_PATTERNS
        # A secret can travel as an option value too (an API key in a stage's `options` JSON).
        record.argv = mask_argv(job.argv, patterns)
        record.env = mask_env(dict(job.env), patterns)
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
            record.begin_attempt()
            self.manifest.put_stage(record)
        self.current = (job.name, time.monotonic())
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
            record.begin_attempt("submitted", str(job_id))
            self.manifest.put_stage(record)
        for job, job_id in waiting:
            if job.name in self.store:  # another run needing the entry waits for this job
                self.store[job.name].mark_queued(str(job_id), self.plan.run_dir)
        self.manifest.data["submission"] = {
            "at": now(),
            "job_ids": [str(job_id) for _, job_id in waiting],
            "stages": [job.name for job, _ in waiting],
        }
        self.manifest.save()

    def ended(self, job: Job, state: StageState) -> None:
        """A stage ended, or will never start because one before it failed."""
        self.ended_names.add(job.name)
        self.current = None
        planned, _ = self.attempts[job.name]
        if not state.ran:
            previous = self.manifest.stage(job.name) if self.manifest else None
            if (
                self.manifest is not None
                and previous is not None
                and previous.status in ("submitted", "running")
            ):
                previous.status, previous.exit_code, previous.ended = "pending", None, now()
                previous.end_attempt("never started")
                self.manifest.put_stage(previous)
            return
        if self.manifest is not None:
            record = self.record(planned)
            record.status = "completed" if state.ok else "failed"
            record.ended, record.exit_code = now(), state.exit_code
            if state.ok:
                pending = self.store[job.name].pending_output_id if job.name in self.store else None
                record.output_id = pending or uuid.uuid4().hex
                record.consumed = {
                    p: getattr(self.manifest.stage(p), "output_id", None) for p in planned.spec.producers()
                }
                if job.name in self.store:  # complete: other runs may now reuse it
                    self.store[job.name].publish(record.output_id, self.plan.run_dir)
            if state.seconds is not None:
                record.seconds = round(state.seconds, 1)
            record.end_attempt(record.status, state.seconds)
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

    def interrupted(self, stop: Interrupted) -> int:
        """The harness was told to stop: record the running stage and say how to resume, in one line."""
        resume = _resume_command(self.plan)
        if self.current is None:
            print(f"interrupted by {stop.signame}; to go on: {resume}", file=sys.stderr)
            return 128 + stop.signum
        name, since = self.current
        if self.manifest is not None and (record := self.manifest.stage(name)) is not None:
            record.status, record.ended, record.exit_code = "interrupted", now(), 128 + stop.signum
            record.seconds = round(time.monotonic() - since, 1)
            record.end_attempt("interrupted", record.seconds)
            self.manifest.put_stage(record)
        print(
            f"{self.tag(name)}: interrupted by {stop.signame} after {_duration(time.monotonic() - since)}; "
            f"its processes were stopped; resume with: {resume}",
            file=sys.stderr,
        )
        return 128 + stop.signum

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
