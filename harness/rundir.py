"""A run directory as a safe unit: what a run may be called, and one invocation at a time.

A run name becomes a folder under `runs/<paper>/`, so it must stay one plain path component:
no `/`, no `..`, nothing hidden. The lock is an flock on `<run_dir>/.lock`: the kernel drops it
when its process dies, however it dies, so a stale lock file never blocks a rerun; the PID and
host written into the file only serve the message a second invocation prints.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.errors import ConfigError, HarnessError, Problem
from harness.stage_store import SHARED_DIR

MAX_RUN_NAME = 100  # not in the papers: long enough for a sweep member's name, short for a path
RUN_NAME_RULE = f"letters, digits, '-', '_' and '.' (not first), at most {MAX_RUN_NAME} characters"
_RUN_NAME = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_RUN_NAME - 1}}}")
LOCK_FILE = ".lock"


def check_run_name(name: str) -> str:
    """`name` when it is a safe folder name, else a ConfigError naming the rule."""
    if not _RUN_NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ConfigError(Problem("run_name", f"{shown!r} is not a valid run name: use {RUN_NAME_RULE}"))
    if name == SHARED_DIR:  # the run's stages would be written among the store's entries
        raise ConfigError(
            Problem(
                "run_name",
                f"{name!r} is the folder of the shared stages (runs/<paper>/{name}); choose another",
            )
        )
    return name


class RunInUseError(HarnessError):
    """Another live process holds the run directory."""


class RunLock:
    """An exclusive lock on a run directory, held from `acquire` until `release` or exit."""

    def __init__(self, run_dir: Path, run_name: str) -> None:
        self.run_dir, self.run_name = run_dir, run_name
        self.path = run_dir / LOCK_FILE
        self._fd: int | None = None
        self._created_dir = False

    def acquire(self) -> RunLock:
        self._created_dir = not self.run_dir.exists()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HarnessError(
                f"cannot create the run directory {self.run_dir}: {exc.strerror}; "
                "choose a writable paths.runs"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 256).decode(errors="replace").split()
            os.close(fd)
            pid, host = (holder + ["?", "?"])[:2]
            raise RunInUseError(
                f"run {self.run_name} is in use by PID {pid} on {host} ({self.run_dir}); "
                "wait for it to finish, stop it, or use another run_name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self, *, discard: bool = False) -> None:
        """Drop the lock; `discard` removes a run directory this lock created and nothing filled."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if discard and self._created_dir and {p.name for p in self.run_dir.iterdir()} <= {LOCK_FILE}:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):  # noqa: N818  (like KeyboardInterrupt: not an error of the code)
    """The harness was asked to stop (SIGINT, SIGTERM or SIGHUP)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signame = signal.Signals(signum).name
        super().__init__(self.signame)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, the first SIGINT/SIGTERM/SIGHUP raises Interrupted; later ones wait.

    The exception unwinds through the launcher, which stops the running stage's process group
    on its way out (launch.stream), so no trainer is left behind holding the GPUs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: object) -> None:
        nonlocal raised
        if not raised:  # a second signal must not cut the cleanup of the first short
            raised = True
            raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
