"""FakeXplain Table 4 on the CPU (issue 18): `python -m harness paper=fakexplain profile=smoke
table=table4` with its four partial-data columns and two training-strategy columns, for real (the
tiny model, the synthetic data, ms-swift SFT and GRPO, the evaluation, the table's report).

It checks what a table promises, not learning (sized down: 16 images, a 4-step SFT, one GRPO step
per stage; tests/smoke/test_smoke_fakexplain.py checks that the recipe learns): every column of
these runs is filled from its own run and names it, the others say which run would fill them; each
partial-data run trains on its own data with its component removed; the training-strategy runs
share one SFT directory; and the same command again runs nothing but the reports.

About 13 minutes (800 s in CI), so `make test` leaves it out (marker `table_smoke`) and CI runs it as one more
step, `make test-table` (.ci/run); `make bench-table` prints the same table with timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.table_smoke]

PARTIAL = {"no_bbox": "no-bbox", "no_caption": "no-caption", "no_tags": "no-tags", "label_only": "label-only"}
STRATEGIES = {"sft": "SFT", "grpo_alpha": "GRPO^alpha"}
SMALL = [
    "smoke.num_fake=8", "smoke.num_real=8", "stages.sft.max_steps=4", "stages.sft.save_steps=4",
    "stages.grpo_cpu.max_steps=1", "stages.grpo_cpu.save_steps=1",
]  # fmt: skip


def _table(runs: Path, run_name: str = "t4") -> subprocess.CompletedProcess:
    names = ",".join([*PARTIAL, *STRATEGIES])
    argv = [sys.executable, "-m", "harness", "paper=fakexplain", "profile=smoke", "table=table4",
            f"table_runs=[{names}]", f"run_name={run_name}", f"paths.runs={runs}", *SMALL]  # fmt: skip
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=2400)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _answers(run_dir: Path) -> list[str]:
    return [row["messages"][-1]["content"] for row in _rows(run_dir / "prepare_data" / "sft.jsonl")]


def test_table4_partial_data_and_two_training_strategies(tmp_path: Path) -> None:
    proc = _table(tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    root = tmp_path / "fakexplain"

    # every column of these runs is filled from its run; the others name the run that would fill them
    report = json.loads((root / "t4__table4" / "report.json").read_text())
    (table,) = report["tables"]
    for row in table["rows"]:
        cells = row["cells"]
        for run, column in {**PARTIAL, **STRATEGIES}.items():
            if row["name"] == "IoU" and run in ("no_bbox", "label_only"):
                # no boxes in the answers: the paper prints no IoU either
                assert cells[column]["status"] == "n/a" and cells[column]["mean"] is None, (
                    column,
                    cells[column],
                )
                continue
            assert cells[column]["mean"] is not None, (row["name"], column, cells[column])
            assert cells[column]["filled_by"] == [f"t4__{run}"], (row["name"], column)
        for column in ("Best", "No-FT", "GRPO^beta", "GRPO^gamma"):
            assert cells[column]["mean"] is None and cells[column]["status"] == "not run", column
    text = (root / "t4__table4" / "report.md").read_text()
    assert "(run no_bbox: t4__no_bbox)" in text and "not run (run best)" in text

    # each partial-data run trained on its own data, with its component removed
    full = _answers(root / "t4__sft")
    assert any("<tag>" in a for a in full) and any("region" in a.lower() for a in full)
    assert all("<tag>" not in a or "<tag></tag>" in a for a in _answers(root / "t4__no_tags"))
    label_only = _answers(root / "t4__label_only")
    assert (
        set(label_only) <= {"<verdict>real</verdict>", "<verdict>fake</verdict>"}
        and len(set(label_only)) == 2
    )
    # its evaluation reads verdict-only answers (the recipe's format rejects them: every cell was 0)
    evaluated = json.loads((root / "t4__label_only" / "eval" / "eval_config.json").read_text())
    assert evaluated["response_format"] == "verdict_tag"
    sfts = {(root / f"t4__{run}" / "sft").resolve() for run in PARTIAL}
    assert len(sfts) == 4  # four SFTs, one per partial-data run

    # the training-strategy runs share one SFT (and its data), run once
    shared_sft = (root / "t4__sft" / "sft").resolve()
    assert (root / "t4__grpo_alpha" / "sft").resolve() == shared_sft
    assert shared_sft.parent.name == "_shared" and shared_sft not in sfts
    assert (
        "reuses: tiny_model (run no_bbox), synth_data (run no_bbox), prepare_data (run sft), sft (run sft)"
        in (proc.stdout)
    )

    # a second table (another run name) reusing them runs nothing again but each run's report
    again = _table(tmp_path, "t4b")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    for run in (*PARTIAL, *STRATEGIES):
        stages = json.loads((root / f"t4b__{run}" / "manifest.json").read_text())["stages"]
        reused = [s["name"] for s in stages if str(s.get("skip_reason") or "").startswith("reused: shared")]
        ran = [s["name"] for s in stages if s["name"] not in reused]
        assert ran == ["report"] and all(s["status"] == "completed" for s in stages), (run, ran)
        evaluated = "eval_sft" if run == "sft" else "eval"  # the same evaluation, linked from both tables
        assert (root / f"t4b__{run}" / evaluated).resolve() == (root / f"t4__{run}" / evaluated).resolve()
    cells = json.loads((root / "t4b__table4" / "report.json").read_text())["tables"][0]["rows"][0]["cells"]
    assert cells["no-bbox"]["filled_by"] == ["t4b__no_bbox"]
    assert cells["no-bbox"]["mean"] == table["rows"][0]["cells"]["no-bbox"]["mean"]  # the same evaluation
