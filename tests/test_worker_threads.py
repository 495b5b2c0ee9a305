"""tests/conftest.py gives each pytest-xdist worker its share of the cores as OMP_NUM_THREADS."""

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
