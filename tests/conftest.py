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
