"""Where a chain of submitted stages stands, from `scontrol show job` (no accounting needed).

Many clusters (and the test cluster) run without slurmdbd, so `sacct` is unavailable; the
controller keeps finished jobs for MinJobAge seconds (300 by default), which is plenty for
a poller that looks every few seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

from common.errors import HarnessError
from launch.chain import NEVER_SATISFIED, ChainResult, StageState


class SlurmError(HarnessError):
    """Slurm refused a stage or could not say where a job stands; the message carries its answer."""


# Job states in which a job may still run to completion (squeue(1) JOB STATE CODES).
ACTIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
     "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"}
)  # fmt: skip

_FIELD = re.compile(r"(?:^|\s)(JobState|Reason|ExitCode|RunTime|JobName|BatchHost)=(\S*)")


def query(
    job_id: str,
    runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """JobState, Reason, ExitCode, RunTime of one job; {'JobState': 'UNKNOWN'} once purged."""
    proc = runner(
        ["scontrol", "show", "job", "-o", str(job_id)],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
    )
    if proc.returncode != 0:
        if "Invalid job id" in (proc.stderr or ""):
            return {"JobState": "UNKNOWN", "Reason": "purged from the controller"}
        raise SlurmError(f"scontrol show job {job_id} failed ({proc.returncode}): {proc.stderr.strip()}")
    return dict(_FIELD.findall(proc.stdout))


def job_active(
    job_id: str,
    runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    env: Mapping[str, str] | None = None,
) -> bool | None:
    """Whether a job may still run (queued, running, requeued); None when this machine cannot ask
    (no `scontrol` on PATH, or the controller does not answer)."""
    if shutil.which("scontrol", path=(env if env is not None else os.environ).get("PATH")) is None:
        return None
    try:
        return query(job_id, runner, env).get("JobState", "UNKNOWN") in ACTIVE_STATES
    except (SlurmError, OSError):
        return None


def to_state(stage: str, job_id: str, fields: Mapping[str, str], log: str = "") -> StageState:
    state = fields.get("JobState", "UNKNOWN")
    rc, sig = _exit_code(fields.get("ExitCode", "0:0"))
    reason = fields.get("Reason", "")
    # A job that never started has no batch host (RunTime alone is not reliable: Slurm may
    # stamp a cancelled-while-pending job with a start and end a second apart).
    never = (
        reason == NEVER_SATISFIED
        or state == "PENDING"
        or (state == "CANCELLED" and fields.get("BatchHost", "") in ("", "(null)"))
    )
    ran = not never
    if state == "FAILED" and rc == 0 and sig == 0:
        rc = 1
    return StageState(stage, job_id, state, rc, sig, reason, ran, log)


def _exit_code(text: str) -> tuple[int, int]:
    rc, _, sig = text.partition(":")
    try:
        return int(rc), int(sig or 0)
    except ValueError:
        return 1, 0


def wait_chain(
    stages: Sequence[tuple[str, str, str]],
    poll_s: float = 5.0,
    timeout_s: float | None = None,
    runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    env: Mapping[str, str] | None = None,
) -> ChainResult:
    """Poll (stage, job_id, log) triples until every job is terminal; return the outcome."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    current: dict[str, StageState] = {}
    while True:
        for stage, job_id, log in stages:
            if job_id in current and current[job_id].terminal:
                continue
            current[job_id] = to_state(stage, job_id, query(job_id, runner, env), log)
        if all(s.terminal for s in current.values()):
            return ChainResult(tuple(current[j] for _, j, _ in stages))
        if deadline is not None and time.monotonic() > deadline:
            pending = [s.describe() for s in current.values() if not s.terminal]
            raise TimeoutError(f"Slurm jobs still running after {timeout_s:.0f} s: {pending}")
        time.sleep(poll_s)
