"""Helpers for composing and rendering the real conf/ tree in tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig

from harness.config import REPO_ROOT, Invocation, compose
from harness.plan import Plan, build_plan
from tests.conftest import PAPERS

__all__ = ["PAPERS", "compose_paper", "load_published", "make_reproduce", "plan_for", "table_run_plan"]

PUBLISHED = Path(__file__).resolve().parent.parent / "published"


def _extra() -> list[str]:
    # Lets a developer compose against extra config folders while a group is being written.
    path = os.environ.get("HARNESS_TEST_SEARCHPATH")
    return [f"hydra.searchpath=[file://{path}]"] if path else []


def compose_paper(paper: str, *overrides: str) -> DictConfig:
    return compose([f"paper={paper}", "profile=full", *overrides, *_extra()])


def plan_for(paper: str, *overrides: str, run_name: str = "test-run") -> Plan:
    return build_plan(compose_paper(paper, *overrides), run_name=run_name)


def load_published(paper: str, *overrides: str) -> DictConfig:
    from harness.invoke import load_config

    return load_config(
        Invocation(overrides=[f"paper={paper}", "profile=full", "as_published=true", *overrides, *_extra()])
    )


def table_run_plan(paper: str, table: str, run: str, *overrides: str) -> tuple[Plan, DictConfig]:
    """The plan and config of one run of a paper table (harness/table.py), full profile."""
    from harness.invoke import load_config
    from harness.table import table_runs

    (found,) = [r for r in table_runs(compose_paper(paper), table) if r.name == run]
    cfg = load_config(Invocation(overrides=[f"paper={paper}", "profile=full", *overrides, *found.overrides]))
    return build_plan(cfg, run_name=f"t__{run}"), cfg


def make_reproduce(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make -s reproduce GPU=0 <args>` with this interpreter's environment (-o: never rebuilt)."""
    return run_make(home, "reproduce", *args)


def run_make(home: Path, target: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`make -s <target> GPU=0 <args>` with this interpreter's environment (-o: never rebuilt)."""
    venv = Path(sys.prefix)
    return subprocess.run(
        ["make", "-s", target, "GPU=0", f"VENV={venv}", "-o", f"{venv}/.installed", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "", "HOME": str(home)},
    )
