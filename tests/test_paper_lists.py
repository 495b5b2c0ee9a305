"""No test file keeps its own list of the papers: adding a paper means adding configs, not editing tests.

``git grep`` finds the test files that name a paper; each is parsed and any hard-coded list of
papers is reported: a list/tuple/set literal holding two or more paper names, or a string that
enumerates three or more (an expected "available: a, b, c" message). The papers come from the one
fixture, tests/conftest.py (derived from conf/paper/). A dict keyed by paper (per-paper expected
values, e.g. a smoke pipeline's stage names) is not a list of papers and is allowed.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PAPERS

REPO = Path(__file__).resolve().parent.parent
FIXTURE = "tests/conftest.py"


def paper_lists(source: str, papers: list[str]) -> list[tuple[int, str]]:
    """(line, what) for every hard-coded list of papers in Python ``source``."""
    names = set(papers)
    word = re.compile(
        r"(?<![\w])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w])"
    )
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            listed = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in names]
            if len(set(listed)) >= 2:
                found.append((node.lineno, f"a literal listing {sorted(set(listed))}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            mentioned = set(word.findall(node.value))
            if len(mentioned) >= 3:
                found.append((node.lineno, f"a string enumerating {sorted(mentioned)}"))
    return found


def _test_files_naming_a_paper() -> list[str]:
    pattern = "|".join(PAPERS)
    proc = subprocess.run(
        ["git", "grep", "--untracked", "-l", "-E", pattern, "--", "tests/*.py", "tests/**/*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: no match
    return proc.stdout.split()


def test_no_test_file_hard_codes_a_list_of_papers() -> None:
    files = _test_files_naming_a_paper()
    assert files, "git grep found no test naming a paper: is this a git checkout?"
    offenders = [
        f"{name}:{line}: {what}"
        for name in files
        if name != FIXTURE
        for line, what in paper_lists((REPO / name).read_text(encoding="utf-8"), PAPERS)
    ]
    assert offenders == [], "derive the papers from tests/conftest.py's PAPERS instead:\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize(
    "source,expected",
    [
        ('PAPERS = ["alpha", "beta_2", "gamma", "delta"]', 1),
        ('for paper in ("gamma", "beta_2"):\n    pass', 1),
        ('assert "available: alpha, beta_2, delta, gamma" in err', 1),
        ('PIPELINES = {"beta_2": ["sft"], "delta": ["sft"]}', 0),
        ('run("paper=beta_2", "reward=gamma")', 0),
        ('files = ("gamma.py", "beta_2.py")', 0),
        ('assert "alphabet, beta_20, gammas" in text', 0),
    ],
)
def test_the_check_catches_a_list_and_leaves_per_paper_values_alone(source: str, expected: int) -> None:
    assert len(paper_lists(source, ["alpha", "beta_2", "delta", "gamma"])) == expected
