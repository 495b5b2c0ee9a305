"""`make reproduce PAPER=<typo>` on a machine without a GPU: the unknown-paper error comes first and
alone, not after a "No GPU found" line that repeats the typo in its suggested command."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.conftest import make_reproduce


def test_unknown_paper_error_comes_before_any_profile_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.invoke.gpu_available", lambda: False)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["paper=fakexpain"])
    assert rc == 2
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("error: paper: unknown paper 'fakexpain' (did you mean: fakexplain?)")
    assert "No GPU found" not in err.getvalue() + out.getvalue()


def test_known_paper_still_gets_the_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.invoke.gpu_available", lambda: False)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["paper=fakexplain", "dry_run=true", "run_name=typo-test"])
    assert rc == 0, err.getvalue()
    assert err.getvalue().startswith("No GPU found: running the CPU smoke profile")
    assert "make reproduce PAPER=fakexplain PROFILE=full" in err.getvalue()


def test_make_reproduce_with_a_typo(tmp_path: Path) -> None:
    """Through the Makefile's reproduce target, with this interpreter's environment (-o: never rebuilt)."""
    proc = make_reproduce(tmp_path, "PAPER=fakexpain")
    assert proc.returncode != 0
    assert "No GPU found" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors and "unknown paper 'fakexpain'" in errors[0], proc.stderr
    assert proc.stderr.splitlines()[0] == errors[0], proc.stderr


def test_make_reproduce_reads_the_dry_run_value(tmp_path: Path) -> None:
    """DRY_RUN=0 and DRY_RUN=ture were dry runs: the Makefile only asked whether DRY_RUN was set."""
    runs = f"ARGS=paths.runs={tmp_path / 'runs'}"
    typo = make_reproduce(tmp_path, "PAPER=fakexplain", "DRY_RUN=ture", runs)
    assert typo.returncode != 0
    assert "error: dry_run: 'ture' is not true or false" in typo.stderr.splitlines(), typo.stderr
    # DRY_RUN=0 would train: its mapping is tests/harness/test_make_entry.py's
    for value in ("1", "true"):
        shown = make_reproduce(tmp_path, "PAPER=fakexplain", f"DRY_RUN={value}", runs)
        assert shown.returncode == 0, shown.stderr
        echoed = [line for line in shown.stdout.splitlines() if " -m harness " in line]  # the command
        assert echoed and " dry_run=true " in echoed[0], shown.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("manifest.json"))
