import pytest


@pytest.fixture(autouse=True, scope="session")
def _share_tiny_models(tiny_model_cache: str) -> None:
    """Every smoke pipeline here copies the tiny model the first one built (tests/conftest.py)."""
