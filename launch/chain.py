"""A chain of stages handed to a launcher, and where each stage of it stands.

Every launcher offers the same two calls to the harness:

    ids = launcher.submit(jobs, script_dir, on_start=..., on_end=...)  # each after the previous succeeded
    result = launcher.wait(ids)                                          # ChainResult, in submission order

A scheduler (Slurm) queues the chain and returns at once; `wait` polls it. A launcher that runs
stages in this process (local, torchrun) runs the chain inside `submit`, one stage after the
other, stopping at the first failure, and calls the hooks around each stage, so the caller can
record a stage as running before it starts and as ended right after; its `wait` only reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from launch.job import Job, JobError

# States after which a job will not run again (REQUEUED / PENDING after a requeue are not).
TERMINAL = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
    "UNKNOWN",
}
# A pending job whose dependency failed never starts unless someone intervenes.
NEVER_SATISFIED = "DependencyNeverSatisfied"


@dataclass(frozen=True)
class StageState:
    """One stage's job as last seen."""

    stage: str
    job_id: str
    state: str
    exit_code: int = 0
    signal: int = 0
    reason: str = ""
    ran: bool = True
    log: str = ""
    scheduler: str = "Slurm"  # who ran it, for messages
    seconds: float | None = None  # how long it ran, when the launcher timed it

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL or (self.state == "PENDING" and self.reason == NEVER_SATISFIED)

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED" and self.exit_code == 0

    def describe(self) -> str:
        head = f"stage {self.stage!r} ({self.scheduler} job {self.job_id})"
        if self.ok:
            return f"{head} completed"
        if not self.terminal:
            why = f" ({self.reason})" if self.reason and self.reason != "None" else ""
            return f"{head} is {self.state}{why}"
        if not self.ran:
            why = f" ({self.reason})" if self.reason and self.reason != "None" else ""
            return f"{head} never started: {self.state}{why}"
        code = f"exit code {self.exit_code}" + (f", signal {self.signal}" if self.signal else "")
        where = f"; see {self.log}" if self.log else ""
        return f"{head} failed: {self.state}, {code}{where}"


@dataclass(frozen=True)
class ChainResult:
    """The outcome of a submitted chain, in submission order."""

    stages: tuple[StageState, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages)

    @property
    def failed(self) -> StageState | None:
        """The first stage that ran and did not succeed (None when all succeeded)."""
        return next((s for s in self.stages if s.ran and not s.ok), None)

    @property
    def not_run(self) -> list[StageState]:
        return [s for s in self.stages if not s.ran]

    def describe(self) -> str:
        return "\n".join(s.describe() for s in self.stages)


StartHook = Callable[[Job], None]
EndHook = Callable[[Job, StageState], None]

# States of a chain run in this process.
IN_PROCESS = "local"
COMPLETED, FAILED, CANCELLED = "COMPLETED", "FAILED", "CANCELLED"


class InProcessChain:
    """submit/wait for launchers that run each stage here, blocking (`run(job) -> exit code`)."""

    requeues = False  # nothing restarts a stage behind the harness's back
    schedules = False  # a chain ends before `submit` returns

    def active(self, job_id: str) -> bool:
        """Whether a job of this launcher is still queued or running: here, none outlives submit."""
        return False

    def run(self, job: Job) -> int:  # provided by the launcher
        raise NotImplementedError

    def submit(
        self,
        jobs: Sequence[Job],
        script_dir: Path | None = None,
        after: Sequence[str] = (),
        on_start: StartHook | None = None,
        on_end: EndHook | None = None,
    ) -> list[str]:
        """Run the jobs now, in order, each only if every job before it (and `after`) succeeded.

        `after` names jobs this launcher ran earlier. `script_dir` is unused: nothing is
        written to run a stage here. Returns one id per job; `wait` reports their states.
        """
        ended = self._ended()
        for job_id in after:
            if job_id not in ended:
                raise JobError(f"job {job_id!r} was not run by this launcher; it cannot wait for it")
        blocked = next((ended[i] for i in after if not ended[i].ok), None)
        ids: list[str] = []
        for job in jobs:
            job_id = str(len(ended) + 1)
            if blocked is not None:
                state = StageState(
                    job.name,
                    job_id,
                    CANCELLED,
                    reason=f"stage {blocked.stage!r} before it did not succeed",
                    ran=False,
                    scheduler=IN_PROCESS,
                )
            else:
                if on_start is not None:
                    on_start(job)
                started = time.monotonic()
                code = self.run(job)
                state = StageState(
                    job.name,
                    job_id,
                    COMPLETED if code == 0 else FAILED,
                    exit_code=code,
                    log=job.log_file(0),
                    scheduler=IN_PROCESS,
                    seconds=time.monotonic() - started,
                )
                if code != 0:
                    blocked = state
            ended[job_id] = state
            ids.append(job_id)
            if on_end is not None:
                on_end(job, state)
        return ids

    def wait(self, job_ids: Sequence[str], timeout_s: float | None = None) -> ChainResult:
        """The states of jobs `submit` ran (they have all ended)."""
        ended = self._ended()
        return ChainResult(tuple(ended[i] for i in job_ids))

    def _ended(self) -> dict[str, StageState]:
        if not hasattr(self, "_chain_states"):
            self._chain_states: dict[str, StageState] = {}
        return self._chain_states
