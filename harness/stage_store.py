"""Stages that several runs share run once: a content-addressed store under `runs/<paper>/_shared/`.

With `shared_stages: true` (the runs of a table, harness/table.py), a stage whose fingerprint
(harness.runner.stage_fingerprint: its config, topology, reward file and, chained, every upstream
stage's) equals one already published is not run again: the run's `<run_dir>/<stage>` becomes a
symlink to the store entry `_shared/<stage>-<digest>/` and its manifest records it as completed.
A stage no entry has yet runs inside its entry (through the same symlink), and is published when
it completes: `published.json`, written atomically (common.atomic), is what makes an entry
reusable, so a half-written entry never is. An interrupted entry is resumed by the next run that
needs it, as the stage's own run would be. While a run runs an entry it holds the entry's lock;
another run that needs the same entry then stops with a clear error instead of writing into it.
Stages that read the run itself (the report) are never shared.

On a scheduler (cluster=slurm) the stage ends after this process returned, so the job publishes
its entry itself: the submitting process writes `<entry>.publication.json` (what `published.json`
will say) before submitting and `<entry>.queued.json` (the job id) after, next to the entry (a
stage may replace its own folder), and the job's last command,
`python3 -m harness.stage_store publish <entry>`, runs only when the stage succeeded. A run that
needs an entry queued by a job that is still queued or running does not submit the stage again:
its chain waits for that job (afterok), so a table is one submission (harness/table.py); with
submit=false the scripts are written as that submission would submit them (a shared stage's by
the first run that needs it, `StoreEntry.mark_written`), and nothing is queued. A run
on this machine (cluster=local) does not write into such an entry either: it stops, naming the
job, while Slurm says the job may still run, or when it cannot ask Slurm (no scontrol here).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from common.atomic import move_aside, replace_symlink, write_json
from common.errors import HarnessError

__all__ = ["SHARED_DIR", "StoreEntry", "entry_for", "shareable", "sharing_enabled"]

SHARED_DIR = "_shared"
PUBLISHED = "published.json"
PUBLICATION = ".publication.json"  # <entry>.publication.json: what a scheduled job publishes
QUEUED = ".queued.json"  # <entry>.queued.json: the scheduler's job that runs the entry


def sharing_enabled(cfg: Any) -> bool:
    """`shared_stages`, on the local launcher (this process runs the stage, holding the entry's
    lock, and publishes it) or on Slurm (the job publishes it). Not with cluster=torchrun: each
    node runs its own harness process on a folder that may be node-local."""
    return bool(cfg.get("shared_stages")) and str(cfg.cluster.launcher) in ("local", "slurm")


def shareable(stage_kind: Any) -> bool:
    """A stage whose result depends only on its fingerprint (not on the run it belongs to)."""
    return not stage_kind.writes_report


@dataclass
class StoreEntry:
    path: Path  # runs/<paper>/_shared/<stage>-<digest>
    fingerprint: dict[str, Any]
    _lock: IO[str] | None = None

    @property
    def published(self) -> dict[str, Any] | None:
        """The entry's publication record, when it is complete and holds this fingerprint."""
        record = _read(self.path / PUBLISHED)
        return record if record and record.get("fingerprint") == self.fingerprint else None

    def started(self) -> bool:
        """Something of an earlier attempt is in the entry (it resumes, if its kind can)."""
        return self.path.is_dir() and any(p.name != ".lock" for p in self.path.iterdir())

    def lock(self) -> None:
        """Hold the entry while this process runs it; another holder is an error, not a wait."""
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".lock", "a", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise HarnessError(
                f"shared stage {self.path} is being run by another run right now; run this one again "
                "when it has finished (it will reuse the result)"
            ) from None
        self._lock = handle

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def link(self, stage_dir: Path) -> None:
        """Make the run's stage folder point at the entry (the run's own folder is kept aside)."""
        if stage_dir.is_symlink() and stage_dir.resolve() == self.path.resolve():
            return
        if stage_dir.exists() and not stage_dir.is_symlink():
            move_aside(stage_dir, ".unshared")
        self.path.mkdir(parents=True, exist_ok=True)
        replace_symlink(self.path, stage_dir)

    def publish(self, output_id: str, run_dir: Path) -> None:
        write_json(
            self.path / PUBLISHED,
            {"fingerprint": self.fingerprint, "output_id": output_id, "run": str(run_dir)},
        )

    # ----- a scheduler's job runs the entry (cluster=slurm) --------------------------------------

    def prepare_publication(self, output_id: str, run_dir: Path) -> list[str]:
        """Before the job is submitted: what it publishes; returns the command it ends with."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / PUBLISHED).unlink(missing_ok=True)
        write_json(
            _beside(self.path, PUBLICATION),
            {"fingerprint": self.fingerprint, "output_id": output_id, "run": str(run_dir)},
        )
        return ["python3", "-m", "harness.stage_store", "publish", str(self.path)]

    @property
    def pending_output_id(self) -> str | None:
        record = _read(_beside(self.path, PUBLICATION))
        return str(record["output_id"]) if record and record.get("fingerprint") == self.fingerprint else None

    def mark_queued(self, job_id: str, run_dir: Path) -> None:
        write_json(self.queued_file, {"job_id": str(job_id), "run": str(run_dir)})

    @property
    def queued_file(self) -> Path:
        return _beside(self.path, QUEUED)

    @property
    def queued(self) -> dict[str, Any] | None:
        """The job that runs this entry (its publication holds this fingerprint), if one was queued."""
        record = _read(self.queued_file)
        return record if record and self.pending_output_id is not None else None

    def mark_written(self, run_dir: Path) -> None:
        """submit=false wrote the entry's script into `run_dir` and submitted nothing."""
        _WRITTEN.setdefault(self.path, run_dir)

    @property
    def written_by(self) -> Path | None:
        """The run whose script (written by this process, not submitted) runs this entry."""
        return _WRITTEN.get(self.path)


# Entries whose script this process wrote without submitting it (submit=false). Kept in memory
# only: a later run of the same table shows the stage as that run's, as one submission would
# (its chain would wait for that job), instead of writing a second script for the same entry;
# another invocation submitted nothing, so it writes its own.
_WRITTEN: dict[Path, Path] = {}


def _beside(entry: Path, suffix: str) -> Path:
    return entry.with_name(entry.name + suffix)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def publish_pending(entry: Path) -> None:
    """The job's last command: its stage succeeded, so the entry is complete (atomically)."""
    record = _read(_beside(entry, PUBLICATION))
    if record is None:
        raise HarnessError(f"{_beside(entry, PUBLICATION)} is missing or unreadable: nothing to publish")
    write_json(entry / PUBLISHED, record)


def entry_for(run_dir: Path, stage: str, fingerprint: dict[str, Any]) -> StoreEntry:
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
    return StoreEntry(run_dir.parent / SHARED_DIR / f"{stage}-{digest[:16]}", fingerprint)


def describe(run_dir: Path, path: Path) -> str:
    return os.path.relpath(path, run_dir.parent)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "publish":
        print("usage: python -m harness.stage_store publish <entry>", file=sys.stderr)
        return 2
    try:
        publish_pending(Path(args[1]))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
