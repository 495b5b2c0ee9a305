"""Run one process, copying its output to the console and to a per-node log file.

No shell is involved: argv goes to the operating system as a list. Secret values that appear
in the output are masked in both copies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from launch import shell
from launch.secret_env import SecretMasker


def run_logged(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    log_path: str,
    secrets: Iterable[str] = (),
    console: BinaryIO | None = None,
) -> int:
    """Run argv to completion; return its exit code (128 + n when killed by signal n).

    The log is opened in append mode so a restarted stage keeps the earlier attempt's output.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    out = console if console is not None else _console()
    masker = SecretMasker(secrets)
    marker = str(Path(log_path).resolve())
    with open(log_path, "ab") as log:
        leftovers = processes_logging_to(marker)
        if leftovers:
            # An earlier attempt whose harness died without stopping it (kill -9, a closed login
            # session): restarting beside it would run two trainers on one stage folder and GPUs.
            shown = ", ".join(map(str, leftovers))
            note = f"==> stopping {len(leftovers)} process(es) of an earlier attempt still running: {shown}\n"
            _write(log, out, note.encode())
            stop_processes_logging_to(marker)
        header = f"==> {time.strftime('%Y-%m-%d %H:%M:%S')} cwd={cwd}: {shell.join(argv)}\n"
        _write(log, out, masker.feed(header.encode()) + masker.flush())
        try:
            proc = subprocess.Popen(
                list(argv),
                # the marker finds the stage's processes, its workers' included, from a later attempt
                env={**env, STAGE_LOG_ENV: marker},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own process group: stopping the stage reaches the trainer's workers too.
                start_new_session=True,
            )
        except OSError as exc:
            msg = f"==> cannot start {argv[0]!r}: {exc}\n"
            _write(log, out, masker.feed(msg.encode()) + masker.flush())
            return 127
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                _write(log, out, masker.feed(chunk))
            _write(log, out, masker.flush())
            rc = proc.wait()
        except BaseException:
            # Ctrl-C or an error in the harness: do not leave the trainer running behind it.
            _stop(proc)
            raise
        finally:
            proc.stdout.close()
        rc = 128 - rc if rc < 0 else rc
        _write(log, out, f"==> exit code {rc}\n".encode())
    return rc


def _console() -> BinaryIO:
    stream = sys.stdout
    return getattr(stream, "buffer", stream)  # type: ignore[return-value]


def _write(log: BinaryIO, console: BinaryIO, data: bytes) -> None:
    if not data:
        return
    log.write(data)
    log.flush()
    try:
        console.write(data)
        console.flush()
    except (TypeError, ValueError):
        # A text-only console (some test runners): decode rather than lose the output.
        console.write(data.decode(errors="replace"))  # type: ignore[arg-type]
        console.flush()


STOP_GRACE_S = 10.0  # SIGTERM, then this long for checkpoints and GPU memory to be let go, then SIGKILL


def _stop(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Stop the stage's whole process group (the trainer and the workers it started)."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, so only live processes keep the group alive
        if not _signal_group(proc.pid, 0):
            break
        time.sleep(0.1)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to a process group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # a zombie-only group on some kernels
        return False
    return True


STAGE_LOG_ENV = "AIGI_STAGE_LOG"  # in every process of a stage: the log file it writes to


def processes_logging_to(log_path: str) -> list[int]:
    """PIDs of live processes on this machine (this user's) whose environment says they belong to
    the stage writing `log_path` (STAGE_LOG_ENV), this process excepted."""
    needle = f"{STAGE_LOG_ENV}={log_path}".encode()
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                variables = handle.read().split(b"\0")
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                state = handle.read().rsplit(b") ", 1)[1][:1]
        except (OSError, IndexError):  # gone, or another user's
            continue
        if needle in variables and state != b"Z":
            found.append(int(entry.name))
    return sorted(found)


def stop_processes_logging_to(log_path: str, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each process of the stage, then SIGKILL those left after `grace_s` (the stage's own
    stop rule). Each signal goes to the processes found with the marker at that moment, so a PID
    the kernel reused meanwhile is not signalled."""
    for pid in processes_logging_to(log_path):
        _signal_pid(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and processes_logging_to(log_path):
        time.sleep(0.2)
    for pid in processes_logging_to(log_path):
        _signal_pid(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and processes_logging_to(log_path):
        time.sleep(0.05)


def _signal_pid(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
