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
