"""Shared values for tests/launch (imported by the test modules; no fixtures here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Fake-HR1's --system value exactly as ms-swift receives it from the README's command
# (../shared/seeds/001_*.txt): inside bash double quotes `\n` stays a backslash and an n,
# and ms-swift turns it into a newline itself.
FAKE_HR1_SYSTEM = (
    r"You are a helpful assistant for AI-generated image detection. Inspect the image and "
    r"decide if it is real or fake.\nReasoning mode:\n- If the image shows **obvious "
    r"AI-generation traces** and is easy to detect, give no think steps.\n- Otherwise, provide "
    r"**careful, step-by-step** reasoning. If the image is easy to detect, output no think "
    r"steps: <think>\n\n</think>\n\nreal or fake. If the user requests explain the think or "
    r"the image is hard to detect, output the think steps: \n<think>\n[Your reasoning "
    r"here]\n</think>\n\nreal or fake."
)

# Every one of these must arrive in the launched process byte for byte.
HOSTILE = (
    "--system",
    FAKE_HR1_SYSTEM,
    'it\'s a "quoted" value',
    "$(touch /tmp/aigi-launch-pwned)",
    "`touch /tmp/aigi-launch-pwned`",
    "${HOME} $HOME %n %j",
    "two\nlines\n",
    "  leading and trailing spaces  ",
    "tab\there",
    "semi;colon && amp | pipe > redirect",
    "glob * ? [a-z]",
    "",
    "-",
    "--",
    "back\\slash\\",
    "unicode: détection 生成 ✓",
    "trainer.logger=['console','tensorboard']",
)

HOSTILE_ENV = {
    "AIGI_HOSTILE": 'it\'s $(x) `y` "z"\nsecond line ${HOME} %n',
    "AIGI_SPACES": "  a b  ",
}

PWNED = Path("/tmp/aigi-launch-pwned")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def free_port_block(size: int, start: int = 30000, stop: int = 60000) -> int:
    """First of `size` consecutive ports that are free now (best effort)."""
    import os
    import socket

    base = start + (os.getpid() * 37) % 5000
    for first in range(base, stop - size, size):
        socks = []
        try:
            for p in range(first, first + size):
                s = socket.socket()
                socks.append(s)
                s.bind(("", p))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def processes_mentioning(marker: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line mentions `marker`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
            state = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            pids.append(int(entry))
    return pids
