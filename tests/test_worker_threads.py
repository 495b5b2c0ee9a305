"""tests/conftest.py under pytest-xdist: each worker's share of the cores as OMP_NUM_THREADS, and the
work units the two workers take."""

from __future__ import annotations

import os

import pytest

from tests import conftest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    return monkeypatch


@pytest.mark.parametrize(("workers", "threads"), [("2", "8"), ("16", "1"), ("32", "1")])
def test_a_worker_gets_its_share_of_the_cores(
    clean_env: pytest.MonkeyPatch, workers: str, threads: str
) -> None:
    clean_env.setenv("PYTEST_XDIST_WORKER_COUNT", workers)
    conftest.pytest_configure(None)  # type: ignore[arg-type]
    assert os.environ["OMP_NUM_THREADS"] == threads


def test_a_users_setting_and_a_single_process_are_left_alone(clean_env: pytest.MonkeyPatch) -> None:
    conftest.pytest_configure(None)  # type: ignore[arg-type]
    assert "OMP_NUM_THREADS" not in os.environ
    clean_env.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    clean_env.setenv("OMP_NUM_THREADS", "3")
    conftest.pytest_configure(None)  # type: ignore[arg-type]
    assert os.environ["OMP_NUM_THREADS"] == "3"


def test_work_units_keep_module_fixtures_together_and_split_the_other_papers() -> None:
    smoke = "tests/smoke/test_smoke_fakexplain.py"
    assert conftest._work_unit(f"{smoke}::test_the_smoke_run_learns") == smoke
    assert conftest._work_unit(f"{smoke}::test_a_subset_needs_its_inputs") == smoke
    assert conftest._work_unit("tests/launch/test_launch_torchrun.py::test_x") == "clusters"
    assert conftest._work_unit("tests/expert/test_expert_programs.py::test_y") == "clusters"
    others = "tests/smoke/test_smoke_other_papers.py"
    hr1, holmes = f"{others}::test_fake_hr1_smoke_run", f"{others}::test_aigi_holmes_smoke_run"
    assert conftest._work_unit(hr1) == hr1 and conftest._work_unit(holmes) == holmes
    # Ordered by their file's slow tests, so they still come early.
    assert conftest._file_unit(hr1) == conftest._file_unit(holmes) == others
