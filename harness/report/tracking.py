"""Where each training stage's experiment-tracker run is (tracking=, conf/tracking/).

Read from the run itself: the resolved config names the tracker and project, the stage folder
holds what the tracker wrote (harness/render/tracking.py puts it there), and an online tracker's
link is the one it printed into the stage's log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.render.tracking import run_label, tracker_dir
from harness.report.markdown import markdown_table
from harness.report.run_dir import RunInfo, StageInfo

__all__ = ["TrackerRun", "render_tracking", "tracker_runs"]

# What wandb (".../<entity>/<project>/runs/<id>") and SwanLab print when a run is online.
_LINK = re.compile(r"https?://(?:[\w.-]*wandb\.ai/\S+/runs/[\w-]+|[\w.-]*swanlab\.cn/@\S+)")


@dataclass(frozen=True)
class TrackerRun:
    stage: str
    tracker: str
    project: str
    run: str  # the tracker's run name
    where: str  # the folder (or files) the tracker wrote, or why there are none
    link: str | None = None  # an online run's address
    view: str | None = None  # the command that shows it


def _link(log: Path | None) -> str | None:
    if log is None or not log.is_file():
        return None
    found = _LINK.findall(log.read_text(encoding="utf-8", errors="replace"))
    return found[-1].rstrip(".,)'\"") if found else None


def _where(name: str, stage: StageInfo) -> tuple[str, str | None]:
    folder = tracker_dir(name, stage.stage_dir)
    if folder is None:
        return "no tracker", None
    if name == "tensorboard":
        events = sorted(folder.rglob("events.out.tfevents.*")) if folder.is_dir() else []
        if events:
            return f"{folder} ({len(events)} event file{'s' if len(events) > 1 else ''})", None
    elif name == "wandb":
        runs = sorted(p for p in folder.glob("*run-*") if p.is_dir()) if folder.is_dir() else []
        if runs:
            offline = [p for p in runs if p.name.startswith("offline-run-")]
            view = f"wandb sync {' '.join(str(p) for p in offline)}" if offline else None
            return ", ".join(str(p) for p in runs), view
    elif name == "swanlab" and folder.is_dir() and any(folder.iterdir()):
        return str(folder), f"swanlab watch -l {folder}"
    return f"nothing written ({folder} is missing or empty)", None


def tracker_runs(run: RunInfo) -> list[TrackerRun]:
    """One entry per training stage that ran, for the tracker the run's config chose."""
    tracking: Any = run.config.get("tracking")
    if not isinstance(tracking, dict) or not tracking.get("name"):
        return []
    name = str(tracking["name"])
    project = str(tracking.get("project") or "")
    entries = []
    for stage in run.stages:
        kind = stage.stage_kind
        if kind is None or not kind.tracked or stage.status in ("skipped", "pending"):
            continue
        where, view = _where(name, stage)
        if name == "tensorboard" and view is None and "event file" in where:
            view = f"tensorboard --logdir {tracker_dir(name, stage.stage_dir)}"
        entries.append(
            TrackerRun(
                stage=stage.name,
                tracker=name,
                project=project,
                run=run_label(str(run.path), stage.name) if name != "none" else "",
                where=where,
                link=_link(stage.log),
                view=view,
            )
        )
    return entries


def render_tracking(runs: list[RunInfo]) -> str:
    """The report's "Experiment tracking" section body (empty: no run names a tracker)."""
    parts: list[str] = []
    for run in runs:
        entries = tracker_runs(run)
        if not entries:
            continue
        head = f"`{run.run_name}`: " if len(runs) > 1 else ""
        if entries[0].tracker == "none":
            parts += [
                f"{head}no experiment tracker (tracking=none); training curves come from the trainers' logs.",
                "",
            ]
            continue
        parts += [
            f"{head}tracker **{entries[0].tracker}**, project `{entries[0].project}`, one run per training stage.",
            "",
        ]
        rows = []
        for e in entries:
            shown = [e.link] if e.link else []
            shown += [f"`{e.view}`"] if e.view else []
            rows.append([f"`{e.stage}`", f"`{e.run}`", e.where, " ".join(shown) or "—"])
        parts += [markdown_table(["Stage", "Tracker run", "Where", "Link / view"], rows), ""]
    return "\n".join(parts).strip()
