"""data_prep/verl_skipped_records.py against the installed verl: a prompt longer than
data.max_prompt_length, which verl's RLHFDataset filters out printing only two lengths, is written to
the stage's skipped_records.jsonl, what verl keeps is unchanged, and `harness.finalize verl` counts
the rows. verl loads the class as main_ppo does (get_dataset_class with data.custom_cls); the
dataset, the filter and the tiny Qwen2.5-VL processor are verl's and transformers' own."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep import swift_skipped_records
from data_prep.conversion import run_conversion
from data_prep.verl_skipped_records import CLASS_NAME, REASON, SKIPPED_ENV
from harness.config import REPO_ROOT
from harness.finalize import SKIPPED_SUMMARY
from harness.finalize import main as finalize

from .qwen_bounds import use_qwen_pixel_bounds

TINY_BOUNDS = {"min_pixels": 3136, "max_pixels": 12544}
LONG_TAIL = " Describe every pixel again." * 400
PLUGIN = REPO_ROOT / "data_prep" / "verl_skipped_records.py"
MAX_PROMPT_LENGTH = 1024
LONG = {"train": (1, 4), "val": (2,)}  # the rows made far longer than MAX_PROMPT_LENGTH


def _lengthened(source: Path, target: Path, long_rows: tuple[int, ...]) -> None:
    table = pq.read_table(source).to_pylist()
    for i in long_rows:
        for message in table[i]["prompt"]:
            if message["role"] == "user":
                message["content"] += LONG_TAIL
    pq.write_table(pq.read_table(source).from_pylist(table, schema=pq.read_schema(source)), target)


@pytest.fixture(scope="module")
def grpo_files(synth_raw, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("fx_verl_skipped")
    run_conversion(
        "fakexplained", [synth_raw], out, options={"seed": 3, **TINY_BOUNDS}, workers=2, echo=lambda s: None
    )
    files = {split: out / f"{split}.parquet" for split in LONG}
    for split, rows in LONG.items():
        _lengthened(out / "grpo.parquet", files[split], rows)
    return files


def _config(files: dict[str, Path], tmp_path: Path, custom: bool):
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "train_files": [str(files["train"])],
            "val_files": str(files["val"]),
            "prompt_key": "prompt",
            "image_key": "images",
            "max_prompt_length": MAX_PROMPT_LENGTH,
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": 2,  # verl's filter in worker processes, as on a GPU node
            "cache_dir": str(tmp_path / "verl_cache"),
            "custom_cls": {"path": str(PLUGIN) if custom else None, "name": CLASS_NAME if custom else None},
        }
    )


def _datasets(files, tmp_path, tiny_qwen, custom: bool) -> dict[str, list]:
    """The train and validation sets as verl's main_ppo builds them (create_rl_dataset)."""
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import get_dataset_class

    use_qwen_pixel_bounds(TINY_BOUNDS["min_pixels"], TINY_BOUNDS["max_pixels"])
    config = _config(files, tmp_path, custom)
    cls = get_dataset_class(config)
    assert (cls.__name__ == CLASS_NAME) is custom
    processor = AutoProcessor.from_pretrained(tiny_qwen)
    train = cls(config.train_files, processor.tokenizer, config, processor)
    val_cls = get_dataset_class(config)  # main_ppo loads the file again for the validation set
    built = {"train": train, "val": val_cls(config.val_files, processor.tokenizer, config, processor)}
    if custom:  # one class, found by its name: a pickle of either set reads back as that class
        assert val_cls is cls
        assert type(pickle.loads(pickle.dumps(train))) is cls
    return {split: [row["extra_info"]["index"] for row in d.dataframe] for split, d in built.items()}


def test_the_prompts_verl_filters_out_are_named_and_counted(
    monkeypatch, tmp_path, tiny_qwen, grpo_files, capsys
):
    for name in ("MAX_PIXELS", "MIN_PIXELS"):
        monkeypatch.setenv(name, "")  # records the value to restore after the test
    stage_dir = tmp_path / "grpo"
    stage_dir.mkdir()
    monkeypatch.setenv(SKIPPED_ENV, str(stage_dir / "skipped_records.jsonl"))
    recorded = _datasets(grpo_files, tmp_path, tiny_qwen, custom=True)
    monkeypatch.delenv(SKIPPED_ENV)
    plain = _datasets(grpo_files, tmp_path, tiny_qwen, custom=False)
    assert recorded == plain  # verl keeps exactly what it kept before

    all_rows = {split: pq.read_table(f).to_pylist() for split, f in grpo_files.items()}
    for split, long_rows in LONG.items():
        indices = [row["extra_info"]["index"] for row in all_rows[split]]
        assert plain[split] == [x for i, x in enumerate(indices) if i not in long_rows]

    lines = [json.loads(x) for x in (stage_dir / "skipped_records.jsonl").read_text().splitlines()]
    assert sorted((r["split"], r["index"]) for r in lines) == sorted(
        (split, all_rows[split][i]["extra_info"]["index"]) for split, rows in LONG.items() for i in rows
    )
    for line in lines:
        [row] = [r for r in all_rows[line["split"]] if r["extra_info"]["index"] == line["index"]]
        [user] = [m["content"] for m in row["prompt"] if m["role"] == "user"]
        assert line["reason"] == REASON and line["max_length"] == MAX_PROMPT_LENGTH
        assert line["dataset_rows"] == len(all_rows[line["split"]])
        assert line["data_files"] == [str(grpo_files[line["split"]])]
        assert line["images"] == [image["image"] for image in row["images"]]
        assert Path(line["images"][0]).is_file() and line["user"] == user[:200]

    (stage_dir / "checkpoints" / "global_step_2").mkdir(parents=True)
    assert finalize(["verl", str(stage_dir)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((stage_dir / SKIPPED_SUMMARY).read_text())
    train_total = len(all_rows["train"])
    assert (summary["rows"], summary["training_rows"]) == (2, train_total)
    assert summary["validation"] == {"rows": 1, "of": len(all_rows["val"])}
    assert summary["max_length"] == MAX_PROMPT_LENGTH and summary["trainer"] == "verl"
    assert (
        f"[harness] warning: verl left out 2 training prompt(s) of {train_total} and 1 validation "
        f"prompt(s) of {len(all_rows['val'])} longer than data.max_prompt_length={MAX_PROMPT_LENGTH}"
    ) in printed


def test_without_the_variable_nothing_is_written(monkeypatch, tmp_path, tiny_qwen, grpo_files):
    for name in ("MAX_PIXELS", "MIN_PIXELS"):
        monkeypatch.setenv(name, "")
    monkeypatch.delenv(SKIPPED_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    _datasets(grpo_files, tmp_path, tiny_qwen, custom=True)
    assert not list(tmp_path.rglob("skipped_records*"))


def test_the_harness_reads_the_file_without_verl():
    """The variable is the ms-swift plugin's; the module imports verl only when verl asks for the
    class (checked in a fresh process: the harness's render path must stay light)."""
    import subprocess
    import sys

    assert SKIPPED_ENV == swift_skipped_records.SKIPPED_ENV
    code = "import sys, data_prep.verl_skipped_records as m; print('verl' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def test_the_report_names_the_trainer_and_its_limit():
    from types import SimpleNamespace

    from harness.report.markdown import render_skipped_rows

    verl = {"trainer": "verl", "rows": 2, "training_rows": 48, "max_length": 1024, "longest": None}
    verl["validation"] = {"rows": 1, "of": 40}
    swift = {"rows": 7, "training_rows": 360, "max_length": 200, "longest": 209}  # before "trainer"
    run = SimpleNamespace(run_name="r")
    text = render_skipped_rows([(run, "grpo", verl), (run, "sft", swift)])
    assert "| r | grpo | verl | 2 of 48 (validation: 1 of 40) | data.max_prompt_length=1024 |" in text
    assert "| r | sft | ms-swift | 7 of 360 | max_length=200 | 209 |" in text
