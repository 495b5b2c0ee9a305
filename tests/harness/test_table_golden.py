"""Golden dry runs of `table=all` for every paper (issue 18): the runs of all its tables, the
stages each runs and those it reuses from an earlier run of the same invocation (up to the
first run's own dry run, which the other golden files and tests/harness/test_tables.py cover).
Regenerate after an intended change and review the diff:

    AIGI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/harness/test_table_golden.py
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from harness.cli import main
from tests.golden import assert_matches_golden
from tests.harness.conftest import PAPERS

GOLDEN = Path(__file__).parent / "golden"


def _listing(paper: str, runs: Path) -> str:
    out, err = io.StringIO(), io.StringIO()
    args = [f"paper={paper}", "profile=full", "table=all", "dry_run=true", "run_name=demo",
            "paths.repo=/repo", f"paths.runs={runs}"]  # fmt: skip
    with redirect_stdout(out), redirect_stderr(err):
        assert main(args) == 0, err.getvalue()
    return out.getvalue().split("\n=== ", 1)[0] + "\n"


@pytest.mark.parametrize("paper", PAPERS)
def test_table_all_dry_run_matches_golden(paper: str, tmp_path: Path) -> None:
    text = _listing(paper, tmp_path)
    assert_matches_golden(text, GOLDEN / f"table_all_{paper}.txt", "tests/harness/test_table_golden.py")
    # every run of every table is listed with its stages
    runs = [line for line in text.splitlines() if line.startswith("# run ")]
    assert runs and len([line for line in text.splitlines() if line.startswith("#   stages: ")]) == len(runs)
