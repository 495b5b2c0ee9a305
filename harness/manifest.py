"""The run directory's records: manifest.json at its root and stage.json per stage.

Every write goes to a temporary file in the same folder, then replaces the target with
os.replace, so a reader (or a killed run) never sees half a file.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


@dataclass
class StageRecord:
    name: str
    kind: str
    status: str = "pending"  # pending | running | completed | failed | skipped | submitted
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


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
    found: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


class RunManifest:
    """manifest.json of one run; stage records are mirrored into <stage_dir>/stage.json."""

    def __init__(self, run_dir: Path, data: dict[str, Any]):
        self.run_dir = run_dir
        self.data = data
        self._order: list[str] = []

    @classmethod
    def load(cls, run_dir: Path) -> RunManifest | None:
        path = run_dir / MANIFEST
        if not path.exists():
            return None
        return cls(run_dir, json.loads(path.read_text()))

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
            write_json_atomic(Path(record.stage_dir) / STAGE_RECORD, as_dict)

    def order_stages(self, names: list[str]) -> None:
        """Keep the manifest's stage list in pipeline order (records of other stages stay last)."""
        self._order = list(names)
        by_name = {item["name"]: item for item in self.data["stages"]}
        ordered = [by_name.pop(n) for n in names if n in by_name]
        self.data["stages"] = ordered + list(by_name.values())

    def save(self) -> None:
        self.data["updated"] = now()
        write_json_atomic(self.run_dir / MANIFEST, self.data)
