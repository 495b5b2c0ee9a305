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


# Files whose slow tests start real multi-process jobs on fixed or shared resources: the one
# Slurm cluster (tests/launch/conftest.py, /etc/hosts, its lock), torchrun rendezvous on the
# default port 29500, Ray heads. Under pytest-xdist they all run on one worker, one at a time.
_ONE_WORKER_FILES = ("tests/launch/", "tests/expert/test_expert_programs.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scheduling for `make test`, which runs two pytest-xdist workers with `--dist loadgroup`.

    Every test gets an xdist group: its file (so a module-scoped fixture, such as the FakeXplain
    smoke pipeline, runs once, on one worker), or "clusters" for the slow tests of the files above.
    Files with slow tests go first (stable sort: files and tests keep their order otherwise), so
    both workers start on the long pipelines and the quick tests fill in behind them. Without
    xdist the group marker is inert and only the order of the files changes.
    """
    slow_files: set[str] = set()
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        clusters = item.get_closest_marker("slow") is not None and path.startswith(_ONE_WORKER_FILES)
        item.add_marker(pytest.mark.xdist_group("clusters" if clusters else path))
        if item.get_closest_marker("slow") is not None:
            slow_files.add(path)
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow_files)
