"""Reading a run directory: its manifest, its stages, each eval stage's metrics and predictions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import HarnessError
from harness.finalize import SKIPPED_SUMMARY
from harness.kinds import StageKind, find_kind
from harness.report.training_logs import Curves

__all__ = ["RunInfo", "StageInfo", "load_run", "read_stage_curves", "results_config_of"]


@dataclass(frozen=True)
class StageInfo:
    name: str
    kind: str
    status: str
    stage_dir: Path
    log: Path | None = None
    seconds: float | None = None

    @property
    def stage_kind(self) -> StageKind | None:
        """What the harness knows about the stage's kind (None for a kind it no longer has)."""
        return find_kind(self.kind)


@dataclass
class RunInfo:
    path: Path
    paper: str
    run_name: str
    stages: list[StageInfo]
    manifest: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the resolved config.yaml, when present

    @property
    def model_name(self) -> str | None:
        model = self.config.get("model")
        return str(model["name"]) if isinstance(model, dict) and model.get("name") else None

    @property
    def table_run(self) -> str | None:
        """The run's name in its paper table (harness/table.py sets config table_run), if any."""
        value = self.config.get("table_run")
        return str(value) if value else None

    @property
    def pipeline(self) -> list[str]:
        """The run's pipeline: the stages its resolved config selects (variant or `pipeline`), else
        the stages its manifest records."""
        if self.config.get("stages"):
            from omegaconf import OmegaConf

            from harness.pipeline import stage_names

            try:
                return stage_names(OmegaConf.create(self.config))  # type: ignore[arg-type]
            except Exception:  # a config this harness can no longer read: the manifest says enough
                pass
        return [stage.name for stage in self.stages]

    @property
    def comparable_with_paper(self) -> bool:
        """False for a profile whose numbers cannot be set against the paper's (the smoke
        profiles: a tiny model on synthetic data; conf/profile/*.yaml comparable_with_paper)."""
        profile = self.config.get("profile")
        if isinstance(profile, dict) and profile.get("comparable_with_paper") is not None:
            return bool(profile["comparable_with_paper"])
        return True

    def stage(self, name: str) -> StageInfo | None:
        for stage in self.stages:
            if stage.name == name:
                return stage
        return None

    def eval_stages(self) -> list[StageInfo]:
        return [s for s in self.stages if s.stage_kind is not None and s.stage_kind.evaluates]

    def training_stages(self) -> list[StageInfo]:
        return [s for s in self.stages if s.stage_kind is not None and s.stage_kind.trains]

    def metrics(self, name: str) -> dict[str, Any] | None:
        """The eval stage's metrics.json, when the stage completed and wrote one.

        A stage queued with a scheduler and not waited for (status submitted: cluster=slurm
        wait=false, as a table's runs on Slurm) counts when its metrics.json exists: the
        submission emptied the folder, so the file is the queued job's, written at its end (the
        report job of a chain starts only after every job before it succeeded)."""
        stage = self.stage(name)
        if stage is None or stage.status not in ("completed", "submitted"):
            return None
        path = stage.stage_dir / "metrics.json"
        if not path.is_file():
            return None
        return _read_json(path, f"rerun it with from_stage={name}")

    def skipped_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """(stage, summary) for each training stage whose trainer left rows out as longer than
        their limit (harness.finalize writes the summary after an ms-swift or verl stage)."""
        found = []
        for stage in self.training_stages():
            path = stage.stage_dir / SKIPPED_SUMMARY
            if path.is_file():
                found.append((stage.name, _read_json(path, f"rerun it with from_stage={stage.name}")))
        return found


def _read_json(path: Path, remedy: str) -> Any:
    """A JSON file of the run; damage is one error naming the file and what to do."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"cannot read {path}: {exc}; {remedy}") from None


def read_stage_curves(stage: StageInfo) -> Curves:
    """All per-step metrics a training stage logged, read by its kind's reader (empty when none)."""
    kind = stage.stage_kind
    if kind is None or kind.read_curves is None:
        return {}
    return kind.read_curves(stage.stage_dir, stage.log)


def load_run(path: str | Path) -> RunInfo:
    """A run directory as the harness wrote it (``manifest.json`` at its root)."""
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise HarnessError(f"{root} is not a run directory: no manifest.json")
    manifest = _read_json(manifest_path, "rerun the pipeline with this run_name to rebuild it")
    items = manifest.get("stages", []) if isinstance(manifest, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("name") for i in items):
        raise HarnessError(
            f"{manifest_path} is not a run manifest (an object whose stages each have a name); "
            "rerun the pipeline with this run_name to rebuild it"
        )
    stages = []
    for item in items:
        stage_dir = Path(item.get("stage_dir") or root / item["name"])
        if not stage_dir.is_absolute():
            stage_dir = root / stage_dir
        log = Path(item["log"]) if item.get("log") else None
        stages.append(
            StageInfo(
                name=item["name"],
                kind=item.get("kind", ""),
                status=item.get("status", "pending"),
                stage_dir=stage_dir,
                log=log,
                seconds=item.get("seconds"),
            )
        )
    return RunInfo(
        path=root,
        paper=str(manifest.get("paper", "")),
        run_name=str(manifest.get("run_name", root.name)),
        stages=stages,
        manifest=manifest,
        config=_run_config(root),
    )


def _run_config(root: Path) -> dict[str, Any]:
    path = root / "config.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0]
        raise HarnessError(
            f"cannot read {path}: {reason}; restore it or rerun the pipeline with this run_name to rewrite it"
        ) from None
    return data if isinstance(data, dict) else {}


def results_config_of(run: RunInfo) -> dict[str, Any] | None:
    """The ``results`` section of the run's resolved ``config.yaml`` (what the report stage renders)."""
    results = run.config.get("results")
    return results if isinstance(results, dict) else None
