"""The one place the test suite learns which papers the checkout ships.

``PAPERS`` is derived from ``conf/paper/*.yaml`` (harness.config.available), so a fifth paper's
config is tested by every test parametrised over it without editing a list.
tests/test_paper_lists.py checks that no other test file hard-codes a list of papers.
"""

from __future__ import annotations

import pytest

from harness.config import available

PAPERS: list[str] = available("paper")


@pytest.fixture(params=PAPERS)
def paper(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def tiny_model_cache(tmp_path_factory: pytest.TempPathFactory):
    """Smoke pipelines of one test session build each tiny model once (data_prep/tiny_model_cache.py):
    the first `tiny_model` stage builds it for real, the later ones copy its files."""
    import os

    from data_prep.tiny_model_cache import CACHE_ENV

    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("tiny_model_cache"))
    yield os.environ[CACHE_ENV]
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


# Files whose slow tests start real multi-process jobs on shared resources: the one Slurm
# cluster (tests/launch/conftest.py, /etc/hosts, a lock held for the session), torchrun
# rendezvous on the default port 29500, Ray heads. Under pytest-xdist they share one worker.
_ONE_WORKER_FILES = ("tests/launch/", "tests/expert/test_expert_programs.py")


# Files whose tests share no module fixture: each test is a unit of its own, so the two workers can
# split them (the three papers' smoke runs, 3, 5 and 9 minutes, were one 16-minute unit).
_PER_TEST_FILES = ("tests/smoke/test_smoke_other_papers.py",)


def _file_unit(nodeid: str) -> str:
    """A test file, or all of the files above together."""
    path = nodeid.split("::", 1)[0]
    return "clusters" if path.startswith(_ONE_WORKER_FILES) else path


def _work_unit(nodeid: str) -> str:
    """The unit pytest-xdist gives one worker: a test file (its module fixtures, such as the
    FakeXplain smoke pipeline, run once), all of the cluster files together, or one test of a
    file in _PER_TEST_FILES."""
    unit = _file_unit(nodeid)
    return nodeid if unit in _PER_TEST_FILES else unit


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker (and every trainer it starts) gets its share of the cores as
    torch's thread count, unless OMP_NUM_THREADS is set. Two trainers on two cores with two OpenMP
    threads each spin against each other: measured 2026-12-03, the Fake-HR1 smoke SFT took 16 s per
    step beside another such trainer and 2.7 s per step with one thread each (as fast as alone)."""
    import os

    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers or "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = str(max(1, cores // max(1, int(workers))))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`make test` runs two pytest-xdist workers; they take work units (_work_unit) in the order
    pytest_collection_modifyitems leaves. (xdist's own `--dist loadgroup` marks do not reach the
    node ids under pytest 9, so the units are defined here.)"""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the order chosen below
    return WorkUnitScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with more slow tests go first (a stable sort: the order is otherwise kept), so both
    workers start on the long pipelines and the quick tests fill in behind them."""
    slow: dict[str, int] = {}
    for item in items:
        unit = _file_unit(item.nodeid)
        slow[unit] = slow.get(unit, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[_file_unit(item.nodeid)])
