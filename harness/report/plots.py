"""PNG figures of the report: training curves per training stage and ROC curves per eval stage.

Training curves follow seed 002 Figure 3 (accuracy and IoU, loss and reward per step), one row of
panels per training stage, each row on the stage's own step axis: an SFT loss (token cross-entropy)
and a GRPO loss (policy objective) measure different things and never share an axis. Panels come
from ``results.curves`` (exact keys and/or regular expressions); a stage draws only the panels it
has data for. matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.report.config import PanelSpec
from harness.report.training_logs import Curves

__all__ = ["DrawnPanel", "plot_roc", "plot_training_curves", "select_keys", "stage_panels"]


@dataclass(frozen=True)
class DrawnPanel:
    """One panel drawn: the stage whose row it is in, its title, the keys drawn and the step range."""

    stage: str
    title: str
    keys: tuple[str, ...]
    steps: tuple[float, float]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def select_keys(panel: PanelSpec, available: Sequence[str]) -> list[str]:
    """The panel's keys present in ``available``: exact keys first, then pattern matches, no repeats."""
    chosen = [k for k in panel.keys if k in available]
    for pattern in panel.patterns:
        regex = re.compile(pattern)
        chosen += [k for k in sorted(available) if regex.fullmatch(k) and k not in chosen]
    return chosen


def stage_panels(curves: Curves, panels: Sequence[PanelSpec]) -> list[tuple[PanelSpec, list[str]]]:
    """The panels one stage has data for, each with its keys (``changing`` panels: moving keys only)."""
    available = sorted(k for k, series in curves.items() if series)
    used = []
    for panel in panels:
        keys = select_keys(panel, available)
        if panel.changing:
            keys = [k for k in keys if len(set(curves[k].values())) > 1]
        if keys:
            used.append((panel, keys))
    return used


def plot_training_curves(
    stages: Sequence[tuple[str, Curves]], panels: Sequence[PanelSpec], path: Path, title: str = ""
) -> list[DrawnPanel]:
    """One row of panels per training stage that logged any; returns the panels drawn (nothing is
    written when none)."""
    rows = [(name, curves, stage_panels(curves, panels)) for name, curves in stages]
    rows = [row for row in rows if row[2]]
    if not rows:
        return []
    plt = _pyplot()
    columns = max(len(used) for _, _, used in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(4.2 * columns, 3.0 * len(rows)), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn: list[DrawnPanel] = []
    for row, (stage, curves, used) in enumerate(rows):
        for column in range(len(used), columns):
            axes[row, column].set_visible(False)
        for axis, (panel, keys) in zip(axes[row], used):
            steps: list[float] = []
            for index, key in enumerate(keys):
                points = sorted(curves[key].items())
                steps += [s for s, _ in points]
                axis.plot(
                    [s for s, _ in points],
                    [v for _, v in points],
                    color=colors[index % len(colors)],
                    marker="." if len(points) < 30 else None,
                    label=key,
                )
            axis.set_title(f"{stage}: {panel.title}", fontsize=9)
            axis.set_xlabel(f"step of {stage}", fontsize=8)
            axis.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
            axis.tick_params(labelsize=7)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=6, loc="best")
            drawn.append(DrawnPanel(stage, panel.title, tuple(keys), (min(steps), max(steps))))
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return drawn


def plot_roc(curves: Sequence[tuple[str, list[float], list[float], float]], path: Path, title: str) -> None:
    """ROC curves (label, fpr, tpr, auc), the first one drawn thicker."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 5))
    for index, (label, fpr, tpr, auc) in enumerate(curves):
        axis.plot(fpr, tpr, linewidth=2.2 if index == 0 else 1.0, label=f"{label} (AUC {auc:.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
    axis.set_xlabel("false positive rate (real called fake)")
    axis.set_ylabel("true positive rate (fake called fake)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
