"""`python -m data_prep check` for every registered source: its synthetic layout passes, a broken
copy of it fails with the reason and the file, a missing input says what was expected."""

from __future__ import annotations

import pytest

from data_prep.check import check_source
from data_prep.sources import SOURCES
from data_prep.synth_layouts import LAYOUTS

from .conftest import run_cli


def _layout_for(source: str):
    for layout in LAYOUTS.load_all().values():
        if layout.source == source:
            return layout
    pytest.fail(f"no synthetic layout declares source={source!r}: the smoke profile cannot feed it")


@pytest.mark.parametrize("source", SOURCES.names())
def test_check_passes_the_sources_own_layout_and_names_a_broken_image(source, tmp_path):
    layout = _layout_for(source)
    inputs = layout.generate(tmp_path / "raw", num_fake=2, num_real=2, seed=1)
    for path in inputs:
        result = check_source(source, [path])
        assert result.ok, (path, result.problems)
    images = sorted(p for p in (tmp_path / "raw").rglob("*.png"))
    victim = images[0]
    victim.write_bytes(victim.read_bytes()[:40])  # a truncated download
    problems = [p for path in inputs for p in check_source(source, [path], verify_images=True).problems]
    assert any("image_corrupt" in p and victim.name in p for p in problems), problems
    missing = check_source(source, [tmp_path / "nowhere"])
    assert not missing.ok and "nowhere" in missing.problems[0]


def test_check_through_the_cli_for_a_source_without_its_own_layout_check(tmp_path):
    (path,) = LAYOUTS.get("testset_jsonl").generate(tmp_path / "raw", num_fake=2, num_real=1)
    ok = run_cli("check", "--source", "testset_jsonl", "--input", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "testset_jsonl is in place: 3 records, all convertible (fake 2, real 1)" in ok.stdout
    bad = run_cli(
        "check", "--source", "testset_jsonl", "--input", str(path), "--options", '{"label_valuez": {}}'
    )
    assert bad.returncode == 2 and "label_valuez" in bad.stderr
    no_root = run_cli("check", "--source", "testset_folders", "--input", str(tmp_path), "--image-root", "/x")
    assert no_root.returncode == 2 and "source testset_folders has no image_root option" in no_root.stderr
