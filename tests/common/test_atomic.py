"""common.atomic: a target is either its old content or its complete new content, never half."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from common.atomic import AtomicFile, atomic_open, move_aside, replace_symlink, write_json, write_text

REPO = Path(__file__).resolve().parents[2]


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_text_and_json_replace_the_target_and_leave_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    write_json(target, {"b": 1, "a": float("nan")})
    assert target.read_text() == '{\n  "b": 1,\n  "a": NaN\n}\n'
    write_json(target, {"b": 2, "a": 1}, sort_keys=True)
    assert json.loads(target.read_text()) == {"a": 1, "b": 2}
    assert target.read_text().startswith('{\n  "a"')
    write_text(target, "plain")
    assert target.read_text() == "plain"
    assert _siblings(target.parent) == ["out.json"]


def test_an_error_keeps_the_old_content_and_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_text(target, "old")
    with pytest.raises(ValueError):
        write_json(target, {"x": float("nan")}, allow_nan=False)
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert _siblings(tmp_path) == ["metrics.json"]


def test_a_reader_never_sees_the_new_content_before_commit(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    write_text(target, "old\n")
    file = AtomicFile(target)
    handle = file.open()
    handle.write("new\n")
    handle.flush()
    assert target.read_text() == "old\n"
    assert file.tmp.parent == target.parent and file.tmp.name.startswith(".rows.jsonl.")
    file.commit()
    assert target.read_text() == "new\n"
    discarded = AtomicFile(target)
    discarded.open().write("never")
    discarded.discard()
    assert target.read_text() == "new\n" and _siblings(tmp_path) == ["rows.jsonl"]


def test_a_library_can_write_the_temporary_path_itself(tmp_path: Path) -> None:
    file = AtomicFile(tmp_path / "data.bin")
    file.tmp.write_bytes(b"\x00\x01")
    assert not file.path.exists()
    file.commit()
    assert file.path.read_bytes() == b"\x00\x01"


def test_chmod_sets_the_mode_of_the_result_and_default_follows_the_umask(tmp_path: Path) -> None:
    script = write_text(tmp_path / "stage.sbatch", "#!/bin/bash\n", chmod=0o755)
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    umask = os.umask(0o022)
    os.umask(umask)
    plain = write_text(tmp_path / "plain.txt", "x")
    assert stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask


def test_replace_symlink_points_to_the_new_target_relatively(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-1").mkdir()
    (tmp_path / "checkpoint-2").mkdir()
    link = tmp_path / "final"
    replace_symlink(tmp_path / "checkpoint-1", link)
    replace_symlink(tmp_path / "checkpoint-2", link)
    assert os.readlink(link) == "checkpoint-2"
    assert _siblings(tmp_path) == ["checkpoint-1", "checkpoint-2", "final"]


def test_a_killed_writer_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    write_text(target, "complete\n")
    code = (
        "import os, sys\n"
        "from common.atomic import atomic_open\n"
        f"with atomic_open({str(target)!r}) as handle:\n"
        "    handle.write('torn')\n"
        "    handle.flush()\n"
        "    os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60)
    assert proc.returncode == 9
    assert target.read_text() == "complete\n"


def test_a_folder_is_copied_once_and_never_replaced(tmp_path: Path) -> None:
    from common.atomic import copy_tree_once

    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "a" / "sub" / "w.bin").write_bytes(b"first")
    assert copy_tree_once(tmp_path / "a", tmp_path / "kept") is True
    (tmp_path / "a" / "sub" / "w.bin").write_bytes(b"second")
    assert copy_tree_once(tmp_path / "a", tmp_path / "kept") is False
    assert (tmp_path / "kept" / "sub" / "w.bin").read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "kept"]  # no temporary copy left


def test_no_other_module_renames_files_over_targets_itself() -> None:
    """One atomic writer: production code calls common.atomic instead of its own os.replace."""
    offenders = []
    for package in ("common", "harness", "launch", "data_prep", "rewards", "expert"):
        for path in (REPO / package).rglob("*.py"):
            if path.name == "atomic.py" and path.parent.name == "common":
                continue
            text = path.read_text(encoding="utf-8")
            if any(call in text for call in ("os.replace(", "os.rename(", ".rename(")):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_move_aside_never_overwrites_what_was_kept_aside_before(tmp_path: Path) -> None:
    for content in ("first", "second"):
        (tmp_path / "sft").mkdir()
        (tmp_path / "sft" / "log.txt").write_text(content)
        move_aside(tmp_path / "sft", ".unshared")
    (tmp_path / "a.json").write_text("x")
    kept = move_aside(tmp_path / "a.json", ".old")
    assert (tmp_path / "sft.unshared" / "log.txt").read_text() == "first"
    assert (tmp_path / "sft.unshared.1" / "log.txt").read_text() == "second"
    assert kept == tmp_path / "a.json.old" and kept.read_text() == "x"
    assert not (tmp_path / "sft").exists()


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("exchange", [True, False], ids=["swap-in-one-step", "rename-aside"])
def test_atomic_folder_keeps_the_old_folder_until_the_new_one_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    import common.atomic

    if not exchange:  # the path taken where renameat2 is missing (macOS) or refused
        monkeypatch.setattr(common.atomic, "_exchange", lambda a, b: False)
    out = tmp_path / "llava"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "old.bin").write_text("old")
    with common.atomic.atomic_folder(out) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "new.bin").write_text("new")
        assert _tree(out) == {"sub/old.bin": "old"}  # a reader still sees the old folder
    assert _tree(out) == {"new.bin": "new"}
    assert _siblings(tmp_path) == ["llava"]  # neither the old folder nor a temporary one is left


def test_atomic_folder_swaps_in_one_step_on_linux(tmp_path: Path) -> None:
    """Where RENAME_EXCHANGE exists the target is never absent; this machine's filesystem has it."""
    import common.atomic

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").write_text("b")
    swapped = common.atomic._exchange(tmp_path / "a", tmp_path / "b")
    assert swapped is sys.platform.startswith("linux")  # elsewhere the rename-aside path above
    assert not swapped or (tmp_path / "a").read_text() == "b" and (tmp_path / "b" / "x").read_text() == "a"


def test_atomic_folder_error_leaves_the_old_folder_and_no_temporary_one(tmp_path: Path) -> None:
    from common.atomic import atomic_folder

    out = tmp_path / "checkpoints" / "step-4"
    out.mkdir(parents=True)
    (out / "state.json").write_text("complete")
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "state.json").write_text("half")
        raise RuntimeError("killed")
    assert _tree(out) == {"state.json": "complete"}
    assert _siblings(out.parent) == ["step-4"]
    with atomic_folder(tmp_path / "new" / "final") as tmp:  # a missing target and parent are made
        (tmp / "a").write_text("1")
    assert _tree(tmp_path / "new" / "final") == {"a": "1"}


def test_a_sole_writer_removes_what_killed_writers_of_the_same_folder_left(tmp_path: Path) -> None:
    from common.atomic import atomic_folder

    killed = tmp_path / ".step-1.0123456789abcdef.tmp"
    other = tmp_path / ".step-10.0123456789abcdef.tmp"  # another target's: kept
    for folder in (killed, other):
        folder.mkdir()
        (folder / "half.bin").write_text("x")
    with atomic_folder(tmp_path / "step-1") as tmp:
        (tmp / "a").write_text("1")
    assert killed.is_dir()  # not asked to: another process may be writing it
    with atomic_folder(tmp_path / "step-1", sole_writer=True) as tmp:
        (tmp / "a").write_text("2")
    assert _siblings(tmp_path) == [other.name, "step-1"]
    assert _tree(tmp_path / "step-1") == {"a": "2"}
