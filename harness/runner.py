"""Run a plan's stages in order, with a run directory, a manifest, and resume.

Running the same command again with the same run name skips completed stages whose recorded
config matches, resumes an interrupted training stage from its last checkpoint, and refuses a
completed stage whose config changed (naming the keys) unless `from_stage=` asks for a rerun.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from omegaconf import OmegaConf

from common.errors import Problem
from harness import swift_resume
from harness.finalize import last_swift_checkpoint
from harness.jobs import cluster_settings, launcher_for, make_job
from harness.manifest import RunManifest, StageRecord, now, write_text_atomic
from harness.pipeline import PRIMARY_OUTPUT, STAGE_REF
from harness.plan import Plan, PlannedStage
from harness.render.values import flatten

TRAINING_KINDS = {"swift_sft", "swift_rlhf", "verl_grpo", "expert_train"}
# Kinds that pick up where an interrupted attempt stopped: trainers from their last checkpoint,
# the evaluation from the predictions already written.
RESUMABLE_KINDS = TRAINING_KINDS | {"eval"}


@dataclasses.dataclass
class Decision:
    action: str  # run | resume | skip_completed | skip_profile | not_selected
    reason: str = ""


def run_plan(
    plan: Plan,
    subset: Sequence[str] | None = None,
    from_stage: str | None = None,
    out: TextIO | None = None,
    launcher: Any = None,
) -> int:
    out = out or sys.stdout
    _use_this_environment()  # before the launcher snapshots the environment
    launcher = launcher or launcher_for(plan)
    primary = bool(getattr(launcher, "is_primary", lambda: True)())
    names = [s.name for s in plan.stages]
    manifest = RunManifest.load(plan.run_dir)
    decisions, problems = decide(plan, manifest, subset, from_stage)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if primary:
        manifest = _open_manifest(plan, manifest)
        manifest.order_stages(names)
        manifest.save()
    if str(plan.cfg.cluster.launcher) == "slurm":
        return _submit_to_slurm(plan, manifest, decisions, launcher, out)

    total = len(plan.stages)
    run_started = time.monotonic()
    for index, planned in enumerate(plan.stages, start=1):
        decision = decisions[planned.name]
        tag = f"[{index}/{total}] {planned.name}"
        if decision.action == "not_selected":
            continue
        if decision.action == "skip_completed":
            print(f"{tag}: already completed, skipped ({decision.reason})", file=out)
            continue
        if decision.action == "skip_profile":
            print(
                f"{tag}: skipped in profile {plan.profile}: {planned.skip_reason} "
                f"(command rendered and validated; see dry_run=true)",
                file=out,
            )
            if primary and manifest is not None:
                record = _record(plan, planned, manifest)
                record.status, record.skip_reason = "skipped", planned.skip_reason
                record.argv = list(planned.rendered.argv)  # what would run, for the record
                manifest.put_stage(record)
            continue
        code = _run_stage(
            plan,
            planned,
            decision,
            manifest if primary else None,
            launcher,
            tag,
            out,
            run_elapsed=time.monotonic() - run_started,
        )
        if code != 0:
            return code
    if primary:
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
        for producer in _producers(planned):
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
            if not _output_exists(planned):
                decisions[planned.name] = Decision("run", "its outputs are gone")
                continue
            decisions[planned.name] = Decision("skip_completed", f"finished {previous.ended}")
            continue
        interrupted = previous.status in ("running", "failed", "submitted")
        if interrupted and planned.kind in RESUMABLE_KINDS:
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


def _producers(planned: PlannedStage) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            walk(value.get("prefer") if value.get("prefer") not in (None, "") else value.get("fallback"))
        elif isinstance(value, str) and value.startswith(STAGE_REF):
            found.append(value[len(STAGE_REF) :].partition("/")[0])

    for value in (planned.spec.get("inputs") or {}).values():
        walk(value)
    return found


def _output_exists(planned: PlannedStage) -> bool:
    primary = PRIMARY_OUTPUT[planned.kind]
    stage_dir = Path(planned.ctx.stage_dir)
    if planned.kind == "report":
        return (Path(planned.ctx.run_dir) / "report.md").exists()
    if planned.kind == "download":
        target = planned.spec.get("local_dir")
        return bool(target) and Path(str(target)).exists()
    return (stage_dir if primary == "." else stage_dir / primary).exists()


def _open_manifest(plan: Plan, manifest: RunManifest | None) -> RunManifest:
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
    manifest.data.update(plan.notes)
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


def _record(plan: Plan, planned: PlannedStage, manifest: RunManifest | None) -> StageRecord:
    previous = manifest.stage(planned.name) if manifest else None
    record = previous or StageRecord(name=planned.name, kind=planned.kind)
    record.kind = planned.kind
    record.stage_dir = planned.ctx.stage_dir
    record.outputs = _outputs(planned)
    record.config = stage_fingerprint(plan, planned)
    return record


def _outputs(planned: PlannedStage) -> dict[str, Any]:
    primary = PRIMARY_OUTPUT[planned.kind]
    stage_dir = Path(planned.ctx.stage_dir)
    outputs: dict[str, Any] = {"primary": str(stage_dir if primary == "." else stage_dir / primary)}
    if planned.kind == "report":
        outputs["primary"] = str(Path(planned.ctx.run_dir) / "report.md")
    if planned.kind == "download" and planned.spec.get("local_dir"):
        outputs["primary"] = str(planned.spec.get("local_dir"))
    return outputs


def _prepare(planned: PlannedStage, decision: Decision) -> PlannedStage:
    """Clean or resume: the argv a rerun needs."""
    stage_dir = Path(planned.ctx.stage_dir)
    rendered = planned.rendered
    argv = list(rendered.argv)
    if planned.kind in ("swift_sft", "swift_rlhf"):
        output = stage_dir / "output"
        checkpoint = last_swift_checkpoint(output) if decision.action == "resume" else None
        if decision.action == "run" and output.exists():
            shutil.rmtree(output)
        if checkpoint is not None and "--resume_from_checkpoint" not in argv:
            argv += ["--resume_from_checkpoint", str(checkpoint)]
    elif planned.kind == "verl_grpo":
        if decision.action == "resume":
            if not any(a.startswith("trainer.resume_mode=") for a in argv):
                argv.append("trainer.resume_mode=auto")
        elif stage_dir.exists():
            shutil.rmtree(stage_dir)
    elif planned.kind == "expert_train":
        if decision.action != "resume" and stage_dir.exists():
            shutil.rmtree(stage_dir)  # a resume continues from its own newest checkpoint (python -m expert)
    elif planned.kind == "eval" and decision.action == "resume":
        pass  # predictions.jsonl is resumed by the evaluation itself (it refuses a changed config)
    elif planned.kind not in ("report", "download") and stage_dir.exists():
        shutil.rmtree(stage_dir)  # a partial export or data folder is not reused
    if argv == list(rendered.argv):
        return planned
    return dataclasses.replace(planned, rendered=dataclasses.replace(rendered, argv=tuple(argv)))


def _run_stage(
    plan: Plan,
    planned: PlannedStage,
    decision: Decision,
    manifest: RunManifest | None,
    launcher: Any,
    tag: str,
    out: TextIO,
    run_elapsed: float = 0.0,
) -> int:
    from launch.secret_env import mask_env

    planned = _prepare(planned, decision)
    Path(planned.ctx.stage_dir).mkdir(parents=True, exist_ok=True)
    job = make_job(plan, planned)
    log = Path(job.log_dir) / f"{job.name}.node0.log"
    patterns = cluster_settings(plan).get("secret_patterns") or None
    record = _record(plan, planned, manifest)
    if manifest is not None:
        record.status, record.started, record.ended, record.exit_code = "running", now(), None, None
        record.argv = list(job.argv)
        record.env = mask_env(dict(job.env), patterns) if patterns else mask_env(dict(job.env))
        record.log = str(log)
        record.attempts += 1
        record.skip_reason = None
        manifest.put_stage(record)
    verb = "resuming" if decision.action == "resume" else "running"
    note = f" ({decision.reason})" if decision.reason else ""
    print(f"{tag}: {verb}{note}; log: {log} (run time so far {_duration(run_elapsed)})", file=out, flush=True)
    started = time.monotonic()
    code = launcher.run(job)
    elapsed = time.monotonic() - started
    if manifest is not None:
        record.status = "completed" if code == 0 else "failed"
        record.ended, record.exit_code, record.seconds = now(), code, round(elapsed, 1)
        manifest.put_stage(record)
    if code == 0:
        print(f"{tag}: completed in {_duration(elapsed)}", file=out, flush=True)
        return 0
    print(
        f"{tag}: FAILED with exit code {code} after {_duration(elapsed)}; nothing after it runs.",
        file=sys.stderr,
    )
    tail = _tail(log, 30)
    if tail:
        print(f"last lines of {log}:\n{tail}", file=sys.stderr)
    return code


def _submit_to_slurm(
    plan: Plan, manifest: RunManifest | None, decisions: dict[str, Decision], launcher: Any, out: TextIO
) -> int:
    jobs = []
    chosen = []
    for planned in plan.stages:
        decision = decisions[planned.name]
        if decision.action in ("run", "resume"):
            # Cleaned now, not when the job starts: a requeued job must find its own checkpoints.
            planned = _prepare(planned, decision)
            chosen.append(planned)
            jobs.append(_requeue_safe(make_job(plan, planned), planned))
    script_dir = plan.run_dir / "slurm"
    if not jobs:
        print("nothing to submit: every selected stage has completed", file=out)
        if manifest is not None:
            manifest.data["slurm_submission"] = {"at": now(), "job_ids": [], "stages": []}
            manifest.save()
        return 0
    paths = launcher.write_scripts(jobs, script_dir)
    for path in paths:
        print(f"wrote {path}", file=out)
    if not plan.cfg.get("submit"):
        print("not submitted (submit=false); submit with submit=true", file=out)
        return 0
    ids = launcher.submit(jobs, script_dir)
    if manifest is not None:
        manifest.data["slurm_submission"] = {
            "at": now(),
            "job_ids": [str(i) for i in ids],
            "stages": [p.name for p in chosen],
        }
        manifest.save()
    records: dict[str, StageRecord] = {}
    for planned, job_id in zip(chosen, ids):
        print(f"submitted {planned.name}: job {job_id}", file=out)
        if manifest is not None:
            record = _record(plan, planned, manifest)
            record.status, record.job_id, record.log = "submitted", str(job_id), None
            record.started, record.ended, record.exit_code = now(), None, None
            manifest.put_stage(record)
            records[planned.name] = record
    if not plan.cfg.get("wait"):
        return 0
    result = launcher.wait(ids)
    for state in result.stages:
        record = records.get(state.stage)
        if record is not None and manifest is not None:
            record.status = "completed" if state.ok else ("failed" if state.ran else "pending")
            record.exit_code, record.ended = state.exit_code, now()
            manifest.put_stage(record)
    if result.ok:
        return 0
    print(result.describe(), file=sys.stderr)
    return 1


def _requeue_safe(job: Any, planned: PlannedStage) -> Any:
    """A Slurm job whose ms-swift trainer resumes from its newest checkpoint when requeued."""
    if planned.kind not in ("swift_sft", "swift_rlhf") or planned.ctx.verbatim:
        return job  # verl resumes by itself (trainer.resume_mode=auto); a seed's command stays verbatim
    output = Path(planned.ctx.stage_dir) / "output"
    return dataclasses.replace(job, argv=swift_resume.wrap(job.argv, str(output)))


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
