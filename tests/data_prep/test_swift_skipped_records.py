"""data_prep/swift_skipped_records.py against the installed ms-swift: a training row longer than
max_length, which ms-swift 4.6 leaves out without a word (LazyLLMDataset trains another row in its
place; EncodePreprocessor drops it), is written to the stage's skipped_records.jsonl, and
`harness.finalize swift` counts the distinct rows. The template, the dataset classes and the tiny
Qwen2.5-VL processor are ms-swift's and transformers' own; nothing is mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.conversion import run_conversion
from data_prep.swift_skipped_records import REASON, SKIPPED_ENV, SKIPPED_FILE
from harness.config import REPO_ROOT
from harness.finalize import SKIPPED_SUMMARY
from harness.finalize import main as finalize

from .qwen_bounds import use_qwen_pixel_bounds

TINY_BOUNDS = {"min_pixels": 3136, "max_pixels": 12544}  # the frame of the other tiny-Qwen tests
LONG_TAIL = " Describe every pixel again." * 400


@pytest.fixture(scope="module")
def sft_rows(synth_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fx_skipped")
    run_conversion(
        "fakexplained", [synth_raw], out, options={"seed": 3, **TINY_BOUNDS}, workers=2, echo=lambda s: None
    )
    return out / "sft.jsonl"


def _tiny_frame(monkeypatch) -> None:
    for name in ("MAX_PIXELS", "MIN_PIXELS", "IMAGE_MAX_TOKEN_NUM", "IMAGE_MIN_TOKEN_NUM"):
        monkeypatch.setenv(name, "")  # records the value to restore after the test
    use_qwen_pixel_bounds(TINY_BOUNDS["min_pixels"], TINY_BOUNDS["max_pixels"])


@pytest.fixture
def recording(monkeypatch, tmp_path):
    """The plugin applied as ms-swift applies it (env set, file imported), undone afterwards."""
    _tiny_frame(monkeypatch)
    from data_prep import swift_skipped_records

    stage_dir = tmp_path / "sft"
    stage_dir.mkdir()
    monkeypatch.setenv(SKIPPED_ENV, str(stage_dir / SKIPPED_FILE))
    from swift.template import base

    original = base.Template.encode
    assert swift_skipped_records.apply()
    wrapped = base.Template.encode
    assert wrapped is not original
    assert swift_skipped_records.apply()  # a second import (a dataloader worker) wraps nothing twice
    assert base.Template.encode is wrapped
    yield stage_dir
    base.Template.encode = original


def _template(tiny_qwen: Path, max_length: int):
    import torch
    from swift.model import get_model_processor
    from swift.template import get_template

    _, processor = get_model_processor(
        str(tiny_qwen), torch_dtype=torch.float32, load_model=False, download_model=False
    )
    # what ms-swift's TemplateArguments pass for its default truncation_strategy=delete
    template = get_template(
        processor, template_type="qwen2_5_vl", max_length=max_length, truncation_strategy="raise"
    )
    template.set_mode("train")
    return template


def _limit_below_the_long_row(tiny_qwen: Path, rows: list[dict]) -> int:
    """A max_length every row fits but the long one (rows[2])."""
    lengths = [_template(tiny_qwen, 100_000).encode(r, return_length=True)["length"] for r in rows]
    limit = max(n for i, n in enumerate(lengths) if i != 2) + 8
    assert lengths[2] > limit
    return limit


def _rows(sft_rows: Path, count: int) -> list[dict]:
    from swift.dataset import load_dataset

    dataset, _ = load_dataset([str(sft_rows)])
    rows = [dict(row) for row in list(dataset)[:count]]
    rows[2]["messages"] = [dict(m) for m in rows[2]["messages"]]
    rows[2]["messages"][1]["content"] += LONG_TAIL  # the user turn: far over any max_length below
    return rows


def test_a_row_lazy_tokenization_replaces_is_named_and_counted(recording, tiny_qwen, sft_rows):
    from datasets import Dataset
    from swift.dataset.utils import LazyLLMDataset

    rows = _rows(sft_rows, 6)
    short = [_template(tiny_qwen, 100_000).encode(r, return_length=True)["length"] for r in rows]
    limit = sorted(short)[-2] + 8  # every row fits but the long one
    assert short[2] > limit
    lazy = LazyLLMDataset(Dataset.from_list(rows), _template(tiny_qwen, limit).encode, random_state=0)
    got = lazy[2]
    assert got["length"] <= limit  # ms-swift trained another row in its place, and said nothing
    for i in range(len(rows)):
        lazy[i]
    lines = [json.loads(line) for line in (recording / SKIPPED_FILE).read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert lines[0]["reason"] == REASON and lines[0]["max_length"] == limit and lines[0]["length"] == short[2]
    image = rows[2]["images"][0]
    assert lines[0]["images"] == [image["path"] if isinstance(image, dict) else image]
    assert lines[0]["user"].startswith(rows[2]["messages"][1]["content"][:50])

    (recording / "output").mkdir()
    (recording / "output" / "checkpoint-2").mkdir()
    (recording / "output" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (recording / "output" / "args.json").write_text(json.dumps({"dataset": [str(sft_rows)]}))
    assert finalize(["swift", str(recording)]) == 0
    summary = json.loads((recording / SKIPPED_SUMMARY).read_text())
    assert (summary["rows"], summary["times"], summary["training_rows"]) == (1, 2, 48)
    assert summary["max_length"] == limit and summary["longest"] == short[2]


def test_a_row_the_encode_pass_drops_is_named(recording, tiny_qwen, sft_rows, capsys):
    from datasets import Dataset
    from swift.dataset.utils import EncodePreprocessor

    rows = _rows(sft_rows, 4)
    limit = _limit_below_the_long_row(tiny_qwen, rows)
    encoded = EncodePreprocessor(_template(tiny_qwen, limit))(
        Dataset.from_list(rows), load_from_cache_file=False
    )
    assert len(encoded) == 3  # ms-swift dropped the long row, and said nothing
    [line] = (recording / SKIPPED_FILE).read_text().splitlines()
    assert json.loads(line)["reason"] == REASON
    (recording / "output" / "checkpoint-1").mkdir(parents=True)
    (recording / "output" / "checkpoint-1" / "trainer_state.json").write_text("{}")
    assert finalize(["swift", str(recording)]) == 0
    out = capsys.readouterr().out
    assert f"[harness] warning: ms-swift left out 1 training row(s) longer than max_length={limit}" in out
    assert f"listed in {recording / SKIPPED_SUMMARY}" in out


def test_without_the_plugin_nothing_is_written(monkeypatch, tmp_path, tiny_qwen, sft_rows):
    """The same row, ms-swift unpatched: no file (what the plugin adds is the only record)."""
    from datasets import Dataset
    from swift.dataset.utils import EncodePreprocessor

    _tiny_frame(monkeypatch)
    from swift.template import base

    assert not getattr(base.Template.encode, "_aigi_records_skipped_rows", False)
    monkeypatch.setenv(SKIPPED_ENV, str(tmp_path / SKIPPED_FILE))
    rows = _rows(sft_rows, 4)
    limit = _limit_below_the_long_row(tiny_qwen, rows)
    encoded = EncodePreprocessor(_template(tiny_qwen, limit))(
        Dataset.from_list(rows), load_from_cache_file=False
    )
    assert len(encoded) == 3
    assert not (tmp_path / SKIPPED_FILE).exists()
    assert finalize(["swift", str(tmp_path)]) == 1  # no checkpoint: finalize still fails as before


def test_broken_lines_are_counted_and_never_fail_the_stage(tmp_path):
    """Ranks on several nodes append to one file; on a network file system two appends may
    collide. finalize counts what it cannot read and still links the checkpoint."""
    row = {"reason": REASON, "length": 300, "max_length": 200, "images": ["a.png"], "messages_sha256": "x"}
    other = {**row, "images": ["b.png"], "messages_sha256": "y", "length": 250}
    lines = [json.dumps(row), '{"reason": "longer_th{"reason"', json.dumps(row), json.dumps(other), "[1]"]
    (tmp_path / SKIPPED_FILE).write_text("\n".join(lines) + "\n")
    (tmp_path / "output" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "output" / "checkpoint-3" / "trainer_state.json").write_text("{}")
    assert finalize(["swift", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / SKIPPED_SUMMARY).read_text())
    assert (summary["rows"], summary["times"], summary["unreadable_lines"]) == (2, 3, 2)
    assert (summary["max_length"], summary["longest"]) == (200, 300)
    assert (tmp_path / "final").resolve() == tmp_path / "output" / "checkpoint-3"


def test_a_file_of_broken_lines_only_never_fails_the_stage(tmp_path):
    """Every line collided: nothing readable, the count of unreadable lines is all there is."""
    (tmp_path / SKIPPED_FILE).write_text('{"reason": "longer_th{"reason"\n[1]\n')
    (tmp_path / "output" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "output" / "checkpoint-3" / "trainer_state.json").write_text("{}")
    assert finalize(["swift", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / SKIPPED_SUMMARY).read_text())
    assert (summary["rows"], summary["unreadable_lines"], summary["reason"]) == (0, 2, None)
    assert (tmp_path / "final").resolve() == tmp_path / "output" / "checkpoint-3"


def test_the_plugin_patches_only_when_ms_swift_loads_it_by_path(tmp_path):
    """With AIGI_SKIPPED_RECORDS set, `import data_prep.swift_skipped_records` (the harness reads its
    constants) patches nothing and imports no ms-swift; ms-swift's own `import_external_file`
    (--external_plugins) patches Template.encode and leaves data_prep/ off sys.path, where its
    modules could shadow a library of the same name in the trainer."""
    plugin = REPO_ROOT / "data_prep" / "swift_skipped_records.py"
    code = (
        "import os, sys\n"
        "import data_prep.swift_skipped_records\n"
        "print('swift' in sys.modules)\n"
        "from swift.template import base\n"
        "print(getattr(base.Template.encode, '_aigi_records_skipped_rows', False))\n"
        "from swift.utils.utils import import_external_file\n"
        f"import_external_file({str(plugin)!r})\n"
        "print(getattr(base.Template.encode, '_aigi_records_skipped_rows', False))\n"
        f"print(any(os.path.realpath(p or '.') == {str(plugin.parent.resolve())!r} for p in sys.path))\n"
    )
    env = {**os.environ, SKIPPED_ENV: str(tmp_path / SKIPPED_FILE)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "True", "False"], proc.stdout + proc.stderr
