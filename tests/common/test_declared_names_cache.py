"""Discovery's parse of the indexed modules is kept in the user's cache; it must never answer for
an edited source, and a damaged cache file is parsed around, not trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common import registry
from common.registry import declared_names


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(registry._DeclaredCache, "_entries", None)
    monkeypatch.setattr(registry._DeclaredCache, "_dirty", False)
    return tmp_path / "aigi-repro" / "declared_names.json"


def test_an_edited_source_is_parsed_again_and_the_answers_persist(fresh_cache: Path) -> None:
    before = 'register_source("alpha")\n'
    after = 'register_source("beta")\nregister_source(name="gamma")\n'
    assert declared_names(before, "register_source") == ["alpha"]
    assert declared_names(after, "register_source") == ["beta", "gamma"]
    registry._DeclaredCache.save()
    stored = json.loads(fresh_cache.read_text())
    assert sorted(map(tuple, stored.values())) == [("alpha",), ("beta", "gamma")]
    # A later process reads the file instead of parsing.
    registry._DeclaredCache._entries = None
    assert declared_names(after, "register_source") == ["beta", "gamma"]
    assert declared_names(after, "other_declarator") == []


def test_a_damaged_cache_file_is_ignored(fresh_cache: Path) -> None:
    fresh_cache.parent.mkdir(parents=True)
    fresh_cache.write_text('{"not": "a list of names"')
    assert declared_names('register_source("alpha")', "register_source") == ["alpha"]
    fresh_cache.write_text(json.dumps({"x": [1, 2]}))
    registry._DeclaredCache._entries = None
    assert declared_names('register_source("delta")', "register_source") == ["delta"]
