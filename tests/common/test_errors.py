"""One error hierarchy: every error a user can cause is a common.errors.HarnessError.

The CLIs catch HarnessError and print `error: ...` lines (exit 2) instead of a traceback, so an
exception class that derives from a builtin instead escapes as a crash. The scan reads the source
(no imports), so a new module cannot slip past it.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from common.errors import ConfigError, HarnessError, did_you_mean

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "harness", "launch", "data_prep", "rewards", "expert")
BUILTIN_ERRORS = {name for name in dir(builtins) if name.endswith("Error")} | {"Exception", "BaseException"}
# Control flow, never shown to a user as an error: a rejected record is counted in rejects.jsonl;
# the swift argument check turns its private parse error into a Problem.
# Interrupted: a stop request (SIGINT/SIGTERM/SIGHUP), a BaseException like KeyboardInterrupt.
NOT_USER_ERRORS = {"RecordRejected", "_ParseError", "Interrupted"}


def _exception_classes(files: list[Path]) -> dict[str, tuple[str, list[str]]]:
    found: dict[str, tuple[str, list[str]]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                if any(b in BUILTIN_ERRORS or b.endswith(("Error", "Failed", "Conflict")) for b in bases):
                    found[node.name] = (path.name, bases)
    return found


def _outside_the_hierarchy(classes: dict[str, tuple[str, list[str]]]) -> set[str]:
    derived = {"HarnessError", "ConfigError"}
    changed = True
    while changed:  # classes deriving from classes that derive from the root
        changed = False
        for name, (_, bases) in classes.items():
            if name not in derived and any(b in derived for b in bases):
                derived.add(name)
                changed = True
    return {
        f"{where}: class {name}({', '.join(bases)})"
        for name, (where, bases) in classes.items()
        if name not in derived and name not in NOT_USER_ERRORS
    }


def test_every_project_exception_derives_from_harness_error() -> None:
    files = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    classes = _exception_classes(files)
    assert {
        "ClusterConfigError",
        "JobError",
        "SlurmError",
        "StageFailed",
        "RewardPluginError",
        "ExpertSwapError",
        "ExpertTrainingError",
    } <= set(classes)
    assert _outside_the_hierarchy(classes) == set(), "derive these from common.errors.HarnessError"


def test_the_scan_finds_a_builtin_base(tmp_path: Path) -> None:
    module = tmp_path / "launcher.py"
    module.write_text(
        "from common.errors import HarnessError\n"
        "class LaunchBroke(RuntimeError): pass\n"
        "class Fine(HarnessError): pass\n"
        "class AlsoFine(Fine, ValueError): pass\n"
    )
    assert _outside_the_hierarchy(_exception_classes([module])) == {
        "launcher.py: class LaunchBroke(RuntimeError)"
    }


def test_config_error_lists_every_problem_and_is_a_harness_error() -> None:
    error = ConfigError("plain message")
    assert isinstance(error, HarnessError) and str(error) == "plain message"


@pytest.mark.parametrize(
    "word, expected",
    [
        ("partion", " (did you mean: partition?)"),
        ("zzz", ""),
        ("gpus_per_nod", " (did you mean: gpus_per_node?)"),
        ("PARTITION", " (did you mean: partition?)"),  # stages=[SFT] found nothing before
        ("Gpus_Per_Node", " (did you mean: gpus_per_node?)"),
    ],
)
def test_did_you_mean(word: str, expected: str) -> None:
    assert did_you_mean(word, ["partition", "account", "gpus_per_node"]) == expected


def test_did_you_mean_keeps_the_candidates_spelling() -> None:
    assert did_you_mean("lora", ["LoRA", "full"]) == " (did you mean: LoRA?)"
    assert did_you_mean("x", ["Ab", "ab"]) == ""
    # a word that differs only in case is that one, not its neighbours too
    assert did_you_mean("W_IOU", ["w_iou", "w_iou_end", "w_iou_start"]) == " (did you mean: w_iou?)"


def test_no_module_keeps_its_own_did_you_mean() -> None:
    users = [
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "get_close_matches" in path.read_text(encoding="utf-8")
    ]
    assert users == ["common/errors.py"]


def test_common_imports_nothing_of_the_project() -> None:
    """launch/, rewards/ and data_prep/ may import common/ only because it depends on none of them."""
    for path in sorted((REPO / "common").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in PACKAGES[1:], f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in PACKAGES[1:], f"{path.name} imports {alias.name}"
