"""Package hygiene and the CLI contract the pipeline renders."""

from __future__ import annotations

import importlib.metadata
import json
import sys

import pytest

from data_prep.chat_templates import load_templates
from data_prep.sources.fakexplained import TEMPLATES_FILE

from .conftest import REPO, run_cli

DATA_PREP = REPO / "data_prep"


def test_no_module_shadows_a_top_level_module_when_the_plugin_folder_is_on_sys_path():
    """ms-swift's --external_plugins puts data_prep/ itself at sys.path[0] (swift/utils/utils.py
    import_external_file), so a data_prep module named like a library would hide that library."""
    ours = {p.stem for p in DATA_PREP.glob("*.py")} | {p.name for p in DATA_PREP.iterdir() if p.is_dir()}
    ours -= {"__init__", "__main__", "__pycache__"}
    installed = set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
    assert not ours & installed, f"rename these data_prep modules: {sorted(ours & installed)}"


def test_data_prep_imports_nothing_from_launch():
    offenders = [
        str(path.relative_to(REPO))
        for path in DATA_PREP.rglob("*.py")
        if "from launch" in path.read_text() or "import launch" in path.read_text()
    ]
    assert offenders == []


def test_nine_templates_three_real_six_fake():
    templates = load_templates(TEMPLATES_FILE)
    assert len(templates) == 9  # 002 App. A.1
    assert sum(t.label == "real" for t in templates) == 3 and sum(t.label == "fake" for t in templates) == 6
    assert all(t.system and t.user for t in templates)


def test_bad_templates_file_is_an_error_naming_it(tmp_path, synth_raw):
    bad = tmp_path / "templates.yaml"
    bad.write_text(
        "templates:\n  - {name: a, label: real, user: is it real}\n  - {name: a, label: fake, user: x}\n"
    )
    result = run_cli("convert", "--source", "fakexplained", "--input", str(synth_raw), "--output-dir",
                     str(tmp_path / "o"), "--options", json.dumps({"templates": str(bad)}))  # fmt: skip
    assert result.returncode == 2 and str(bad) in result.stderr and "unique" in result.stderr
    bad.write_text("templates: [unclosed\n")
    result = run_cli("convert", "--source", "fakexplained", "--input", str(synth_raw), "--output-dir",
                     str(tmp_path / "o"), "--options", json.dumps({"templates": str(bad)}))  # fmt: skip
    assert result.returncode == 2 and str(bad) in result.stderr and "not valid YAML" in result.stderr


def test_synth_then_convert_through_the_cli(tmp_path):
    raw = tmp_path / "raw"
    made = run_cli("synth", "--kind", "fakexplained", "--output-dir", str(raw), "--num-fake", "6", "--num-real", "5",
                   "--seed", "4", "--size", "96x80", "--fixed-size")  # fmt: skip
    assert made.returncode == 0, made.stderr
    records = [json.loads(line) for line in (raw / "annotations.jsonl").read_text().splitlines()]
    assert len(records) == 11 and all((r["width"], r["height"]) == (96, 80) for r in records)
    assert all((raw / r["image"]).is_file() for r in records)
    out = tmp_path / "out"
    converted = run_cli("convert", "--source", "fakexplained", "--input", str(raw), "--output-dir", str(out),
                        "--options", '{"fold": 0, "num_folds": 4}', "--workers", "2")  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["read"] == 11 == stats["converted"] + stats["rejected_total"]
    assert set(p.name for p in out.iterdir()) == {"sft.jsonl", "grpo.jsonl", "grpo.parquet", "eval.jsonl",
                                                  "rejects.jsonl", "stats.json"}  # fmt: skip
    assert "read 11, converted 11, rejected 0" in converted.stdout


def test_synth_is_deterministic(tmp_path):
    from data_prep.synth_fakexplained import generate_fakexplained

    a = generate_fakexplained(tmp_path / "a", num_fake=5, num_real=3, seed=9)
    b = generate_fakexplained(tmp_path / "b", num_fake=5, num_real=3, seed=9)
    assert a.read_text() == b.read_text()
    for record in map(json.loads, a.read_text().splitlines()):
        assert (tmp_path / "a" / record["image"]).read_bytes() == (
            tmp_path / "b" / record["image"]
        ).read_bytes()


def test_synthetic_fakes_carry_one_unmistakable_artefact_in_a_fixed_cell(synth_raw):
    """Each fake has exactly one region: a two-colour saturated checkerboard filling one of the fixed grid
    cells, in that cell's colours (exact: PNG is lossless); no real image holds any of those colours."""
    import numpy as np
    from PIL import Image

    from data_prep.synth_fakexplained import ARTEFACT, POSITIONS, artefact_box

    def share(pixels: np.ndarray, colour: tuple[int, int, int]) -> float:
        return float((pixels == np.array(colour)).all(axis=2).mean())

    colours = [colour for position in POSITIONS for colour in position.colours]
    assert len(set(colours)) == 2 * len(POSITIONS)
    fakes = reals = 0
    seen = set()
    for record in map(json.loads, (synth_raw / "annotations.jsonl").read_text().splitlines()):
        pixels = np.asarray(Image.open(synth_raw / record["image"]).convert("RGB")).astype(int)
        if record["label"] == "real":
            assert all(share(pixels, colour) == 0.0 for colour in colours), record["id"]
            reals += 1
            continue
        (box,) = record["objects"]["bbox"]
        assert record["objects"]["ref"] == [ARTEFACT.description] and record["tags"] == [ARTEFACT.tag]
        (position,) = [
            p for p in POSITIONS if list(artefact_box(record["width"], record["height"], p)) == box
        ]
        seen.add(position)
        x1, y1, x2, y2 = box
        patch = pixels[y1:y2, x1:x2]
        assert sum(share(patch, colour) for colour in position.colours) == 1.0
        assert 0.4 < share(patch, position.colours[0]) < 0.6  # alternating, not a flat block
        outside = pixels.copy()
        outside[y1:y2, x1:x2] = 128
        assert all(share(outside, colour) == 0.0 for colour in colours)
        fakes += 1
    assert fakes >= 20 and reals >= 20 and seen == set(POSITIONS)


@pytest.mark.slow
def test_tiny_model_cli_builds_both_kinds(tmp_path):
    for kind in ("qwen2_5_vl", "llava1_6"):
        result = run_cli("tiny-model", "--kind", kind, "--output-dir", str(tmp_path / kind))
        assert result.returncode == 0, result.stderr
        config = json.loads((tmp_path / kind / "config.json").read_text())
        assert config["model_type"] == {"qwen2_5_vl": "qwen2_5_vl", "llava1_6": "llava_next"}[kind]
        assert (tmp_path / kind / "model.safetensors").is_file()


def test_bad_command_lines_exit_2(tmp_path):
    assert run_cli("convert", "--source", "nope", "--input", "x", "--output-dir", "y").returncode == 2
    bad_json = run_cli(
        "convert", "--source", "fakexplained", "--input", "x", "--output-dir", "y", "--options", "{"
    )
    assert bad_json.returncode == 2 and "--options is not valid JSON" in bad_json.stderr
    assert (
        run_cli("synth", "--kind", "fakexplained", "--output-dir", str(tmp_path), "--size", "9x9").returncode
        == 2
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["convert", "--workers", "0"], "argument --workers: must be at least 1, got 0"),
        (["convert", "--workers", "-3"], "argument --workers: must be at least 1, got -3"),
        (["convert", "--chunk-size", "0"], "argument --chunk-size: must be at least 1, got 0"),
        (["synth", "--num-fake", "-5"], "argument --num-fake: must be at least 0, got -5"),
        (["synth", "--seed", "-1"], "argument --seed: must be at least 0, got -1"),
        (["synth", "--workers", "0"], "argument --workers: must be at least 1, got 0"),
        (
            ["synth", "--num-fake", "0", "--num-real", "0"],
            "--num-fake and --num-real: both 0, the fakexplained layout would write no image",
        ),
        (["synth", "--num-val", "2"], "synth --layout fakexplained takes no --num-val"),
    ],
)
def test_counts_that_would_do_nothing_are_refused_before_anything_is_written(
    args: list[str], message: str, tmp_path
) -> None:
    """They used to run: with the default worker count, or writing an empty dataset the trainer
    then refused hours later. The same checks run in the harness before a pipeline starts."""
    from data_prep.__main__ import command_line_problems

    command, *options = args
    where = (
        ["--source", "fakexplained", "--input", str(tmp_path / "in")]
        if command == "convert"
        else ["--layout", "fakexplained"]
    )
    argv = [command, *where, "--output-dir", str(tmp_path / "out"), *options]
    result = run_cli(*argv)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    assert [str(e) for e in command_line_problems(argv)] == [message]


@pytest.mark.parametrize(
    "args, flag",
    [
        (
            ["convert", "--source", "fakexplained", "--input", "{input}", "--output-dir", "{file}"],
            "--output-dir",
        ),
        (["synth", "--layout", "fakexplained", "--output-dir", "{file}"], "--output-dir"),
        (["tiny-model", "--arch", "qwen2_5_vl", "--output-dir", "{file}"], "--output-dir"),
        (["download", "--hub", "hf", "--repo-id", "a/b", "--cache-dir", "{file}"], "--cache-dir"),
        (
            [
                "download",
                "--hub",
                "hf",
                "--repo-id",
                "a/b",
                "--cache-dir",
                "{input}",
                "--local-dir",
                "{file}",
            ],
            "--local-dir",
        ),
    ],
)
def test_a_file_where_a_folder_is_written_is_refused_by_its_flag(
    args: list[str], flag: str, tmp_path
) -> None:
    """They were OSError tracebacks ("File exists", "Not a directory") after the arguments passed."""
    from data_prep.__main__ import command_line_problems

    file = tmp_path / "a_file"
    file.write_text("keep me")
    (tmp_path / "in").mkdir()
    argv = [a.format(file=file, input=tmp_path / "in") for a in args]
    result = run_cli(*argv)
    message = f"argument {flag}: {file} is a file; give a folder (it is created if missing)"
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert file.read_text() == "keep me"
    assert [str(e) for e in command_line_problems(argv)] == [message]  # what the harness checks before a run


def test_one_count_at_zero_is_a_dataset_of_the_other_class(tmp_path) -> None:
    from data_prep.__main__ import command_line_problems

    argv = ["synth", "--layout", "fakexplained", "--output-dir", str(tmp_path), "--num-real", "0"]
    assert command_line_problems(argv) == []
    argv = ["convert", "--source", "fakexplained", "--input", "x", "--output-dir", "y", "--workers", "1"]
    assert command_line_problems([*argv, "--chunk-size", "1"]) == []
