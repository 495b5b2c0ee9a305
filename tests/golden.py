"""Golden files of the tests: compare a text with its file, or rewrite the file when asked.

`AIGI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest <test file>` regenerates a test file's golden
files; review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

UPDATE = os.environ.get("AIGI_UPDATE_GOLDEN") == "1"


def assert_matches_golden(text: str, path: Path, test_file: str) -> None:
    """`text` equals the golden file `path` (rewritten first under AIGI_UPDATE_GOLDEN=1);
    `test_file` is the test module to name in the message, e.g. tests/harness/test_x.py."""
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing {path}; run with AIGI_UPDATE_GOLDEN=1"
    assert text == path.read_text(), (
        f"{path.name} is out of date; if the change is intended run "
        f"AIGI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest {test_file}"
    )
