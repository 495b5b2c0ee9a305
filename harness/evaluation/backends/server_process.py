"""Starting and stopping an OpenAI-compatible inference server for the eval stage (``openai.launch_server``).

AIGI-Holmes' README serves its model with ``python -m vllm.entrypoints.openai.api_server`` and
queries it; with ``launch_server: true`` the eval stage does the same by itself: it starts the
server as its own child (in a new session, so the server's workers stop with it), waits until
``GET {base_url}/models`` answers, and stops the server when the evaluation ends or fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlparse

from common.errors import HarnessError
from harness.evaluation.config import EvalConfig
from harness.evaluation.vllm_logits_processor import PROCESSOR_FQCN

__all__ = ["ServerProcess", "server_argv"]

LOGITS_PROCESSOR = PROCESSOR_FQCN


def server_argv(model: str, config: EvalConfig) -> list[str]:
    """The server's command line: ``server_command``, the flags this config implies, ``server_args``."""
    settings = config.openai
    url = urlparse(settings.base_url)
    argv = [
        *settings.server_command,
        "--model",
        model,
        "--served-model-name",
        settings.model or model,
        "--host",
        url.hostname or "127.0.0.1",
        "--port",
        str(url.port or 8000),
    ]
    if config.soft_scoring is not None and config.soft_scoring.enabled:
        argv += ["--logprobs-mode", config.vllm.logprobs_mode]  # eq. 2 needs logits (soft_scoring.py)
    if config.collaborative_decoding is not None:
        argv += ["--logits-processors", LOGITS_PROCESSOR]
    return argv + list(settings.server_args)


class ServerProcess:
    """A server child process; ``stop()`` ends it (and its workers) and is safe to call twice."""

    def __init__(self, argv: Sequence[str], base_url: str, startup_timeout_s: float, poll_s: float = 1.0):
        self.argv = list(argv)
        self.base_url = base_url.rstrip("/")
        self.process = subprocess.Popen(self.argv, start_new_session=True)
        try:
            self._wait_until_ready(startup_timeout_s, poll_s)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout_s: float, poll_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise HarnessError(
                    f"the inference server exited with code {code} before it was ready: {' '.join(self.argv)}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(poll_s)
        raise HarnessError(
            f"the inference server did not answer {self.base_url}/models within {timeout_s:.0f} s"
        )

    def stop(self, grace_s: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # our child's own session: the server and its workers
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
