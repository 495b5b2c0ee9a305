"""PNG figures of the report: training curves across stages and ROC curves per eval stage.

Training curves follow seed 002 Figure 3 (accuracy and IoU, loss and reward per step): the
training stages are laid end to end on one step axis, a dashed line and the stage's name mark
where each begins. Panels come from ``results.curves`` (exact keys and/or regular expressions).
matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.report.config import PanelSpec
from harness.report.training_logs import Curves

__all__ = ["plot_roc", "plot_training_curves", "select_keys"]


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


def plot_training_curves(
    stages: Sequence[tuple[str, Curves]], panels: Sequence[PanelSpec], path: Path, title: str = ""
) -> list[str]:
    """Draw the panels that have data; returns the keys drawn (nothing is written when none)."""
    offsets: list[tuple[str, float]] = []
    shifted: list[tuple[str, Curves]] = []
    offset = 0.0
    for name, curves in stages:
        steps = [s for series in curves.values() for s in series]
        if not steps:
            continue
        offsets.append((name, offset))
        shifted.append(
            (name, {k: {s + offset: v for s, v in series.items()} for k, series in curves.items()})
        )
        offset += max(steps)
    available = sorted({k for _, curves in shifted for k in curves})
    used = [(panel, select_keys(panel, available)) for panel in panels]
    used = [(panel, keys) for panel, keys in used if keys]
    if not used:
        return []
    plt = _pyplot()
    figure, axes = plt.subplots(len(used), 1, figsize=(9, 2.8 * len(used)), sharex=True, squeeze=False)
    drawn: list[str] = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (panel, keys) in zip(axes[:, 0], used):
        for index, key in enumerate(keys):
            # one line per stage: a metric of two stages is not one continuous curve
            label: str | None = key
            for _, curves in shifted:
                points = sorted(curves.get(key, {}).items())
                if not points:
                    continue
                axis.plot(
                    [s for s, _ in points],
                    [v for _, v in points],
                    color=colors[index % len(colors)],
                    marker="." if len(points) < 30 else None,
                    label=label,
                )
                label = None
            drawn.append(key)
        for stage, start in offsets:
            axis.axvline(start, color="grey", linestyle="--", linewidth=0.8)
            axis.annotate(
                stage,
                xy=(start, 0.98),
                xycoords=("data", "axes fraction"),
                xytext=(3, 0),
                textcoords="offset points",
                fontsize=7,
                va="top",
                color="grey",
            )
        axis.set_title(panel.title, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="best")
    axes[-1, 0].set_xlabel("training step (stages end to end)")
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
