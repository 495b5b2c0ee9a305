"""Writing a file so that a reader, or a run killed half-way, never sees half of it.

Everything is written to a hidden temporary file next to the target (same folder, so the rename
cannot cross filesystems), flushed to disk, then renamed over the target with ``os.replace``; on
an error the temporary file is removed and the target keeps its previous content. Every package
writes files this way: run records, eval metrics, sbatch scripts, converted datasets.

- ``write_text`` / ``write_json``: a whole file at once;
- ``atomic_open``: a ``with`` block that streams into the file and commits when the block ends;
- ``AtomicFile``: the same with an explicit ``commit()`` / ``discard()``, for writers that live
  across calls (data_prep.writers) or that a library writes by path (parquet);
- ``replace_symlink``: point a symlink somewhere else in one step;
- ``atomic_folder``: build a folder under a temporary name, then put it in place of the old one;
- ``copy_tree_once``: copy a folder to a target that, once there, is complete and never replaced;
- ``move_aside``: rename a file or folder to a free sibling name, never over an earlier one.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import itertools
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "AtomicFile",
    "atomic_folder",
    "atomic_open",
    "copy_tree_once",
    "move_aside",
    "replace_symlink",
    "write_json",
    "write_text",
]


def _temporary_sibling(path: Path) -> Path:
    # Random, so two writers of the same target never share a temporary file, and neither does a
    # later process with a recycled pid next to a file a killed one left behind.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:16]}.tmp")


class AtomicFile:
    """A file written under a temporary name and renamed to ``path`` by ``commit()``.

    ``tmp`` is the path to write (open it with ``open()`` or hand it to a library); ``commit()``
    makes it ``path``, ``discard()`` removes it. ``mode`` sets the permission bits of the result
    (for example 0o755 for a script); by default they follow the umask, as for a plain ``open``.
    """

    def __init__(self, path: str | os.PathLike[str], mode: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = _temporary_sibling(self.path)
        self.mode = mode
        self._handle: IO[Any] | None = None

    def open(self, mode: str = "w", encoding: str | None = "utf-8") -> IO[Any]:
        """Open the temporary file (created empty; "x" so a stray file is never reused)."""
        exclusive = mode.replace("w", "x")
        self._handle = open(self.tmp, exclusive, encoding=None if "b" in mode else encoding)
        return self._handle

    def commit(self) -> Path:
        """Flush the temporary file to disk and rename it over ``path``."""
        if self._handle is not None and not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        else:
            _fsync_path(self.tmp)
        if self.mode is not None:
            os.chmod(self.tmp, self.mode)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary file; ``path`` keeps whatever it held before."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        self.tmp.unlink(missing_ok=True)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8", chmod: int | None = None
) -> Iterator[IO[Any]]:
    """``with atomic_open(path) as handle:`` writes ``path`` when the block ends without an error."""
    target = AtomicFile(path, mode=chmod)
    handle = target.open(mode, encoding)
    try:
        yield handle
    except BaseException:
        target.discard()
        raise
    target.commit()


def write_text(
    path: str | os.PathLike[str], text: str, encoding: str = "utf-8", chmod: int | None = None
) -> Path:
    with atomic_open(path, "w", encoding=encoding, chmod=chmod) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2, **dumps: Any) -> Path:
    """``data`` as JSON (``json.dumps`` keyword arguments pass through) with a final newline."""
    return write_text(path, json.dumps(data, indent=indent, **dumps) + "\n")


def replace_symlink(target: str | os.PathLike[str], link_path: str | os.PathLike[str]) -> None:
    """Make ``link_path`` a relative symlink to ``target``, replacing what was there in one step."""
    link_path = Path(link_path)
    tmp = _temporary_sibling(link_path)
    os.symlink(os.path.relpath(target, link_path.parent), tmp)
    try:
        os.replace(tmp, link_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def move_aside(path: str | os.PathLike[str], suffix: str) -> Path:
    """Rename ``path`` to ``<name><suffix>`` (then ``<name><suffix>.1``, ...), the first name that is
    free, and return it: what was kept aside earlier is never overwritten."""
    path = Path(path)
    is_folder = path.is_dir() and not path.is_symlink()
    for count in itertools.count():
        candidate = path.with_name(path.name + suffix + (f".{count}" if count else ""))
        if is_folder:
            try:
                os.mkdir(candidate)  # claims the name; os.replace onto an empty folder succeeds
            except FileExistsError:
                continue
        elif os.path.lexists(candidate):
            continue
        os.replace(path, candidate)
        return candidate
    raise AssertionError("unreachable")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the
    platform or filesystem cannot, so the caller falls back to two renames."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # not glibc >= 2.28 (macOS, musl)
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextmanager
def atomic_folder(path: str | os.PathLike[str], *, sole_writer: bool = False) -> Iterator[Path]:
    """``with atomic_folder(out) as tmp:`` fill the empty folder ``tmp``; when the block ends without
    an error it becomes ``out``, and whatever ``out`` held before is removed only after that.

    On Linux the old and the new folder swap in one step, so a reader sees one or the other, never
    neither; elsewhere the old folder is first renamed aside, so for an instant ``out`` is absent,
    but a crash never leaves half a folder at ``out``. On an error ``tmp`` is removed and ``out``
    is untouched. ``sole_writer=True`` (no other process writes ``out``) first removes the
    temporary folders of earlier writers that were killed, which can be model-sized.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if sole_writer:
        for stale in path.parent.glob(f".{glob.escape(path.name)}.{'[0-9a-f]' * 16}.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = _temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):
        old = tmp  # the swap left the old folder under the temporary name
    else:
        old = _temporary_sibling(path)
        os.rename(path, old)
        os.rename(tmp, path)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()


def copy_tree_once(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """Copy the folder ``source`` to ``target`` unless ``target`` exists; False when it did.

    The copy is made under a temporary sibling name and renamed, so ``target`` is either absent or
    complete; of two concurrent writers the first rename wins and the other's copy is removed.
    """
    target = Path(target)
    if target.exists():
        return False
    tmp = _temporary_sibling(target)
    shutil.copytree(source, tmp)
    try:
        os.rename(tmp, target)  # a directory rename never replaces a non-empty target
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            raise
        return False
    return True
