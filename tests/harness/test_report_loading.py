"""`python -m harness.report` on a damaged run directory: one `error:` line naming the file, exit 2
(issue 14, leftover of item 4: the run's manifest was rebuilt, the report's reader was not)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

MANIFEST = {
    "paper": "fakexplain",
    "run_name": "r",
    "stages": [{"name": "eval", "kind": "eval", "status": "completed"}],
}


def _report(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.report",
            "--run-dir",
            str(run_dir),
            "--output-dir",
            str(run_dir / "out"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "damage, file, text",
    [
        ("manifest.json", "manifest.json", '{"paper": "fakexplain", "stages": [{"na'),
        ("manifest.json", "manifest.json", "[1, 2]"),
        ("manifest.json", "manifest.json", '{"stages": [{"kind": "eval"}]}'),
        ("config.yaml", "config.yaml", "results: [unclosed\n"),
        ("eval/metrics.json", "eval/metrics.json", '{"accuracy": 0.'),
    ],
)
def test_a_damaged_run_file_is_one_error_line_naming_it(
    damage: str, file: str, text: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "r"
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps(MANIFEST))
    (run_dir / damage).write_text(text)
    proc = _report(run_dir)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert str(run_dir / file) in lines[0], lines
