"""Fixtures for tests/launch: a real two-node Slurm cluster on this machine, free ports.

The Slurm fixture installs Debian's slurmctld, slurmd, slurm-client and munge when they are
missing (CI starts from a clean machine), then starts, in a private directory under /tmp:
one munged (own key and socket), one slurmctld and two slurmd (`-N n1`, `-N n2`) with
distinct ports, both on this host with CPUs=1 each, as ../shared/FACTS.md describes. The
node names n1 and n2 are mapped to 127.0.0.1 by one marked line in /etc/hosts (a real
cluster's DNS does this; torch and Ray resolve MASTER_ADDR=n1 through it). Teardown stops
every daemon it started, by process id, and removes the line and the directory. Nothing in
/etc/slurm or /etc/munge is touched. It needs root; the packages stay installed.

A file lock serialises fixtures of concurrent pytest sessions on the same machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from launch_testlib import free_port

PROGRAMS = Path(__file__).parent / "programs"
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
HOSTS_MARK = "# aigi-repro tests/launch slurm"
LOCK = "/tmp/aigi-repro-tests-launch-slurm.lock"
NODES = ("n1", "n2")


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def programs() -> Path:
    return PROGRAMS


@dataclass
class SlurmCluster:
    base: Path
    conf: Path
    env: dict[str, str]
    setup_s: float

    def environ(self) -> dict[str, str]:
        """os.environ plus SLURM_CONF: what sbatch and scontrol need to find this cluster."""
        return {**os.environ, **self.env}


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def _ensure_packages() -> None:
    if all(
        Path(p).exists()
        for p in ("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/sbin/munged")
    ):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run(["apt-get", "update", "-qq"], env=env)
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], env=env)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"could not install {' '.join(PACKAGES)}: {exc.stderr[-2000:]}")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited daemon whose parent (init) has not reaped it yet is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _stop_pid(pid: int | None, timeout_s: float = 15.0) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]


def _edit_hosts(add: str | None) -> None:
    # /etc/hosts is often a bind mount: rewrite it in place, never rename over it.
    with open("/etc/hosts", "r+") as f:
        lines = [line for line in f.read().splitlines() if HOSTS_MARK not in line]
        if add is not None:
            lines.append(add)
        f.seek(0)
        f.write("\n".join(lines) + "\n")
        f.truncate()


def _slurm_conf(base: Path, host: str, ports: dict[str, int]) -> str:
    nodes = "\n".join(
        f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={ports[n]} "
        "CPUs=1 RealMemory=1000 State=UNKNOWN"
        for n in NODES
    )
    return f"""\
ClusterName=aigitest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports["ctld"]}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={base}/munge/munge.sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool/%n
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd-%n.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd-%n.log
ReturnToService=2
MinJobAge=600
KillWait=5
{nodes}
PartitionName=debug Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    if os.geteuid() != 0:
        pytest.fail(
            "the Slurm tests install and start slurmctld/slurmd/munge and need root; run them "
            "as root (CI does) or deselect them with -m 'not slow'"
        )
    with _file_lock(LOCK):
        t0 = time.monotonic()
        _ensure_packages()
        base = Path(tempfile.mkdtemp(prefix="aigi-slurm-", dir="/tmp"))
        base.chmod(0o755)
        pids: list[Path] = []
        try:
            yield _start(base, t0, pids)
        finally:
            _shutdown(base, pids)


def _start(base: Path, t0: float, pid_files: list[Path]) -> SlurmCluster:
    munge = base / "munge"
    munge.mkdir(mode=0o755)
    shutil.chown(munge, "munge", "munge")
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    pid_files.append(munge / "munged.pid")
    _run(
        [
            "runuser",
            "-u",
            "munge",
            "--",
            "/usr/sbin/munged",
            "--force",
            f"--socket={munge}/munge.sock",
            f"--key-file={key}",
            f"--pid-file={munge}/munged.pid",
            f"--log-file={munge}/munged.log",
            f"--seed-file={munge}/munged.seed",
        ]
    )
    for d in ("state", "spool", "log"):
        (base / d).mkdir()
    host = socket.gethostname().split(".")[0]
    ports = {"ctld": free_port(), "n1": free_port(), "n2": free_port()}
    conf = base / "slurm.conf"
    conf.write_text(_slurm_conf(base, host, ports))
    _edit_hosts(f"127.0.0.1 {' '.join(NODES)} {HOSTS_MARK} {base}")
    env = {"SLURM_CONF": str(conf)}
    full = {**os.environ, **env}
    pid_files.append(base / "slurmctld.pid")
    _run(["/usr/sbin/slurmctld", "-f", str(conf)], env=full)
    for n in NODES:
        pid_files.append(base / f"slurmd-{n}.pid")
        _run(["/usr/sbin/slurmd", "-f", str(conf), "-N", n], env=full)
    deadline = time.monotonic() + 60
    states = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], env=full, capture_output=True, text=True)
        states = proc.stdout.strip()
        if proc.returncode == 0 and states.count("idle") == len(NODES):
            return SlurmCluster(base, conf, env, time.monotonic() - t0)
        time.sleep(0.5)
    logs = "\n".join(p.read_text()[-1500:] for p in (base / "log").glob("*.log"))
    raise RuntimeError(f"Slurm nodes not idle after 60 s: {states!r}\n{logs}")


def _shutdown(base: Path, pid_files: list[Path]) -> None:
    env = {**os.environ, "SLURM_CONF": str(base / "slurm.conf")}
    daemon_pids = {p: _read_pid(p) for p in pid_files}
    # A job still running (a failed test) would outlive slurmd in its slurmstepd: cancel
    # every job of this private cluster first and give Slurm time to kill them.
    subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        proc = subprocess.run(
            ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            break
        time.sleep(0.5)
    subprocess.run(["scontrol", "shutdown"], env=env, capture_output=True, timeout=30)
    for _path, pid in daemon_pids.items():
        _stop_pid(pid)  # whatever `scontrol shutdown` did not end, munged included
    _edit_hosts(None)
    shutil.rmtree(base, ignore_errors=True)
