"""The run directory's records: manifest.json at its root and stage.json per stage.

Every write is atomic (common.atomic), so a reader (or a killed run) never sees half a file.
"""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.atomic import write_json
from common.errors import HarnessError

MANIFEST = "manifest.json"
STAGE_RECORD = "stage.json"
TRACKED_PACKAGES = (
    "aigi-repro",
    "ms-swift",
    "verl",
    "transformers",
    "torch",
    "vllm",
    "peft",
    "trl",
    "deepspeed",
    "flash-attn",
    "ray",
    "hydra-core",
)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StageRecord:
    name: str
    kind: str
    status: str = "pending"  # pending | running | completed | failed | interrupted | skipped | submitted
    stage_dir: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # secrets masked
    started: str | None = None
    ended: str | None = None
    seconds: float | None = None
    exit_code: int | None = None
    log: str | None = None
    skip_reason: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # flattened stage config, for resume checks
    attempts: int = 0
    job_id: str | None = None
    # A fresh id each time the stage completes, and the ids of the producers' outputs this
    # attempt consumed: a producer that completed again since makes this stage stale.
    output_id: str | None = None
    consumed: dict[str, str | None] = field(default_factory=dict)
    # Every attempt, oldest first: started, ended, exit_code, outcome (running | submitted |
    # completed | failed | interrupted | never started), seconds, job_id. The fields above are the last one's.
    history: list[dict[str, Any]] = field(default_factory=list)

    def begin_attempt(self, outcome: str = "running", job_id: str | None = None) -> None:
        """A new attempt starts (or is handed to a scheduler) at `self.started`."""
        self.history.append(
            {"started": self.started, "ended": None, "exit_code": None, "outcome": outcome, "seconds": None}
            | ({"job_id": job_id} if job_id is not None else {})
        )

    def end_attempt(self, outcome: str, seconds: float | None = None) -> None:
        """The open attempt ended (at `self.ended`, with `self.exit_code`) after `seconds`."""
        if not self.history or self.history[-1]["ended"] is not None:
            self.begin_attempt()  # a record written before attempts were kept
        self.history[-1].update(
            ended=self.ended,
            exit_code=self.exit_code,
            outcome=outcome,
            seconds=round(seconds, 1) if seconds is not None else None,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageRecord:
        known = {f for f in cls.__dataclass_fields__}
        record = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(record.name, str) or not isinstance(record.config, dict):
            raise TypeError("a stage record needs a name and a config mapping")
        return record


def _stage_records(run_dir: Path) -> list[StageRecord]:
    """The readable `<run_dir>/<stage>/stage.json` records (what rebuilds a lost manifest)."""
    records = []
    for path in sorted(run_dir.glob(f"*/{STAGE_RECORD}")):
        try:
            data = json.loads(path.read_text())
            record = StageRecord.from_dict(data) if isinstance(data, dict) else None
        except (ValueError, TypeError, UnicodeDecodeError):
            continue
        if record is not None and record.name == path.parent.name:
            records.append(record)
    return records


def git_state(repo: Path) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version  # here: a dry run needs none

    found: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


class UnreadableManifestError(HarnessError):
    """manifest.json cannot be parsed and no stage.json was found to rebuild it from."""

    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(f"{path} is unreadable ({why}) and no stage.json was found to rebuild it from")


class RunManifest:
    """manifest.json of one run; stage records are mirrored into <stage_dir>/stage.json."""

    def __init__(self, run_dir: Path, data: dict[str, Any]):
        self.run_dir = run_dir
        self.data = data
        self.rebuilt: str | None = None  # why manifest.json was rebuilt from the stage records
        self._order: list[str] = []

    @classmethod
    def load(cls, run_dir: Path) -> RunManifest | None:
        """The run's manifest; an unreadable one is rebuilt from the stages' stage.json files."""
        path = run_dir / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
                raise ValueError("not a manifest object with a 'stages' list")
            for item in data["stages"]:
                StageRecord.from_dict(item)
            return cls(run_dir, data)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        records = _stage_records(run_dir)
        if not records:
            raise UnreadableManifestError(path, why)
        manifest = cls(run_dir, {"stages": [asdict(r) for r in records]})
        manifest.rebuilt = f"{path} was unreadable ({why}); rebuilt it from {len(records)} stage.json files"
        return manifest

    @classmethod
    def create(cls, run_dir: Path, header: dict[str, Any]) -> RunManifest:
        data = {**header, "created": now(), "updated": now(), "stages": []}
        return cls(run_dir, data)

    @staticmethod
    def environment(repo: Path) -> dict[str, Any]:
        from harness import __version__

        return {
            "harness_version": __version__,
            "git": git_state(repo),
            "versions": package_versions(),
            "host": {
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
        }

    def stage(self, name: str) -> StageRecord | None:
        for item in self.data["stages"]:
            if item["name"] == name:
                return StageRecord.from_dict(item)
        return None

    def put_stage(self, record: StageRecord) -> None:
        items = self.data["stages"]
        as_dict = asdict(record)
        for i, item in enumerate(items):
            if item["name"] == record.name:
                items[i] = as_dict
                break
        else:
            items.append(as_dict)
            if self._order:
                # A stage recorded after order_stages (a skipped one, say) takes its pipeline place.
                self.order_stages(self._order)
        self.save()
        if record.stage_dir:
            write_json(Path(record.stage_dir) / STAGE_RECORD, as_dict, default=str)

    def order_stages(self, names: list[str]) -> None:
        """Keep the manifest's stage list in pipeline order (records of other stages stay last)."""
        self._order = list(names)
        by_name = {item["name"]: item for item in self.data["stages"]}
        ordered = [by_name.pop(n) for n in names if n in by_name]
        self.data["stages"] = ordered + list(by_name.values())

    def save(self) -> None:
        self.data["updated"] = now()
        write_json(self.run_dir / MANIFEST, self.data, default=str)
