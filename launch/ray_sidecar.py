"""Supervise one node's `ray start --block`: retry a failed start, stop Ray on request.

`ray start --block` stays in the foreground for as long as the node's Ray processes live and
shuts them all down on SIGTERM. That makes it a handle on the whole node: the supervisor
starts it (again, up to `retries` times, if it dies before the stage asked it to stop) and
terminates it when the stage ends. No `ray stop`: it would kill every Ray process on the
machine, including other users' and, on a shared host, the other nodes of the same test.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from launch import shell
from launch.ray_cluster import wait_for_port


class RaySidecar:
    """One node's Ray, run as a supervised child process."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: str | None,
        *,
        retries: int,
        retry_delay_s: float,
        stop_timeout_s: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        wait_for: str | None = None,
        wait_timeout_s: float = 600.0,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.stop_timeout_s = stop_timeout_s
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.wait_for = wait_for
        self.wait_timeout_s = wait_timeout_s
        self.proc: subprocess.Popen | None = None
        self.attempts = 0

    def supervise(self, should_stop: Callable[[], bool], poll_s: float = 0.5) -> int:
        """Run until `should_stop()`; return 0 when stopped on request, else the last exit code."""
        try:
            if self.wait_for is not None:
                # A worker that starts before the head only burns its retries.
                wait_for_port(self.wait_for, self.wait_timeout_s, alive=lambda: not should_stop())
            while True:
                if should_stop():
                    return 0
                if self.proc is None:
                    self._start()
                rc = self.proc.poll() if self.proc is not None else None
                if rc is not None:
                    self._note(f"ray exited with code {rc} (attempt {self.attempts}/{self.retries})")
                    self.proc = None
                    if self.attempts >= self.retries:
                        return rc or 1
                    self._sleep(self.retry_delay_s, should_stop)
                    continue
                time.sleep(poll_s)
        except Exception as exc:  # report in the node's log rather than vanish
            self._note(f"supervisor failed: {exc}")
            return 1
        finally:
            self.stop()

    def stop(self) -> None:
        """SIGTERM `ray start --block` (it shuts the node's Ray down), SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self._note(f"ray did not stop within {self.stop_timeout_s:.0f} s; killing it")
            proc.kill()
            proc.wait()

    def _start(self) -> None:
        self.attempts += 1
        self._note(f"attempt {self.attempts}/{self.retries}: {shell.join(self.argv)}")
        if self.log_path is None:
            # Under srun the supervisor's own stdout already is the node's log file.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
            return
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
            )

    def _note(self, text: str) -> None:
        line = f"==> {time.strftime('%H:%M:%S')} [ray sidecar] {text}\n"
        if self.log_path is None:
            print(line, end="", flush=True)
            return
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(line.encode())

    @staticmethod
    def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not should_stop():
            time.sleep(0.2)
