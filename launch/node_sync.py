"""How hand-started nodes (cluster=torchrun) agree that a rank-0 step has ended.

Rank 0 alone runs "single" stages, a stage's post_argv and the Ray driver. The other nodes
must wait for it: the next stage may read what rank 0 just wrote (a merged model, the
`final` checkpoint link), and a Ray worker must not leave before the driver is done.

Choice: a key-value store served by rank 0's harness process (torch's TCPStore on
MASTER_ADDR:sync_port), not marker files in the run directory. Marker files outlive the
run: a re-run would find the previous attempt's markers and go ahead too early, and a
crashed rank 0 would leave the others waiting forever. The store lives as long as rank 0's
harness; when rank 0 dies, a waiting node fails at once with a clear message.

Protocol. Keys are `<stage name>#<n>` (n counts this process's calls for that stage, the
same on every node because every node walks the same pipeline).
- Rank 0 sets `<key>/rc` when the step ended and goes on at once; it never waits for the
  others mid-pipeline (a node that started late may skip stages rank 0 already finished).
- Rank k blocks on `<key>/rc`.
- Rank k beats `beat/<k>` every few seconds (own connection) and sets `bye/<k>` at exit.
  Rank 0, at exit, keeps the store up until every node said bye or went silent, so no node
  is left waiting for a result that was published just before rank 0 exited.
"""

from __future__ import annotations

import atexit
import datetime
import os
import sys
import threading
import time
from typing import Any

from common.errors import HarnessError

# A node that has not beaten for this long is gone (crashed or killed without saying bye).
SILENT_AFTER_S = 15.0
BEAT_EVERY_S = 3.0
# How long rank 0 waits at exit for a node that never connected at all.
NEVER_SEEN_GRACE_S = 30.0


class NodeSyncError(HarnessError):
    """Rank 0 could not be reached or went away; the message says what to check."""


class RankZeroChannel:
    """Rank 0 publishes step results; the other ranks wait for them."""

    def __init__(self, host: str, port: int, nnodes: int, node_rank: int, timeout_s: float) -> None:
        self.host, self.port = host, port
        self.nnodes, self.node_rank = nnodes, node_rank
        self.timeout_s = timeout_s
        self._store: Any = None
        self._counts: dict[str, int] = {}

    def next_key(self, name: str) -> str:
        """A key for the next step named `name`, the same on every node."""
        n = self._counts.get(name, 0)
        self._counts[name] = n + 1
        return f"{name}#{n}"

    def publish(self, key: str, rc: int) -> None:
        """Rank 0: announce the exit code of step `key`."""
        self._connect().set(f"{key}/rc", str(rc))

    def wait(self, key: str) -> int:
        """Rank k: block until rank 0 published `key`; return its exit code."""
        store = self._connect()
        try:
            return int(store.get(f"{key}/rc"))
        except Exception as exc:  # torch raises DistNetworkError / DistStoreError
            raise NodeSyncError(
                f"node {self.node_rank} lost rank 0 ({self.host}:{self.port}) while waiting for "
                f"step {key!r}: {exc}. Check rank 0's log; if the step legitimately runs longer "
                "than cluster.sync_timeout_s, raise it"
            ) from None

    def confirm(self, key: str) -> None:
        """Rank k: tell rank 0 this node finished its part of step `key` (e.g. stopped Ray)."""
        self._connect().add(f"{key}/done", 1)

    def await_confirmations(self, key: str, timeout_s: float) -> bool:
        """Rank 0: wait until every other node confirmed `key`; False on timeout."""
        store = self._connect()
        deadline = time.monotonic() + timeout_s
        while store.add(f"{key}/done", 0) < self.nnodes - 1:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    # ----- connection and lifetime ----------------------------------------------------------

    def _connect(self) -> Any:
        if self._store is not None:
            return self._store
        self._store = _open_store(self.host, self.port, self.node_rank == 0, self.timeout_s)
        if self.node_rank == 0:
            atexit.register(self._linger)
        else:
            self._store.set(f"beat/{self.node_rank}", "0")
            threading.Thread(target=self._beat, name="node-sync-beat", daemon=True).start()
            atexit.register(self._bye)
        return self._store

    def _beat(self) -> None:
        # Its own connection: the main thread may sit in a blocking get() on the first one.
        try:
            store = _open_store(self.host, self.port, False, self.timeout_s)
            while True:
                store.add(f"beat/{self.node_rank}", 1)
                time.sleep(BEAT_EVERY_S)
        except Exception:
            return  # rank 0 is gone; the main thread reports it when it next waits

    def _bye(self) -> None:
        try:
            self._store.set(f"bye/{self.node_rank}", "1")
        except Exception:
            pass

    def _linger(self) -> None:
        """Rank 0 at exit: keep serving until every other node is done with the store."""
        store = self._store
        start = time.monotonic()
        last_beat: dict[int, tuple[int, float]] = {}
        told = False
        while time.monotonic() - start < self.timeout_s:
            pending = []
            for rank in range(1, self.nnodes):
                if store.check([f"bye/{rank}"]):
                    continue
                now = time.monotonic()
                if not store.check([f"beat/{rank}"]):
                    if now - start < NEVER_SEEN_GRACE_S:
                        pending.append(rank)
                    continue
                beats = store.add(f"beat/{rank}", 0)
                seen = last_beat.get(rank)
                if seen is None or seen[0] != beats:
                    last_beat[rank] = (beats, now)
                if now - last_beat[rank][1] < SILENT_AFTER_S:
                    pending.append(rank)
            if not pending:
                return
            if not told:
                print(
                    f"[launch] node 0 waits for node(s) {pending} to finish before it exits "
                    "(they may still need results from it)",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            time.sleep(0.5)


# One store per (host, port, role) and process: the harness may build a new launcher per
# stage, but rank 0 can bind the port only once.
_STORES: dict[tuple[str, int, bool], Any] = {}
_CHANNELS: dict[tuple[str, int, int, int], RankZeroChannel] = {}


def _open_store(host: str, port: int, is_master: bool, timeout_s: float) -> Any:
    key = (host, port, is_master)
    if is_master and key in _STORES:
        return _STORES[key]
    # TCPStore's C++ side prints a stack trace for every lost connection; keep it quiet
    # unless the user asked for more.
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    from torch.distributed import TCPStore  # lazy: torch costs seconds to import

    try:
        store = TCPStore(
            host,
            port,
            world_size=None,
            is_master=is_master,
            timeout=datetime.timedelta(seconds=timeout_s),
            wait_for_workers=False,
        )
    except Exception as exc:
        role = "serve" if is_master else "reach rank 0's"
        raise NodeSyncError(
            f"cannot {role} node-sync store at {host}:{port}: {exc}. Set cluster.sync_port to "
            "a free port reachable from every node (default: master_port + 1)"
        ) from None
    if is_master:
        _STORES[key] = store
    return store


def channel_for(host: str, port: int, nnodes: int, node_rank: int, timeout_s: float) -> RankZeroChannel:
    """The process-wide channel for this topology: its step counters must outlive launchers."""
    key = (host, port, nnodes, node_rank)
    if key not in _CHANNELS:
        _CHANNELS[key] = RankZeroChannel(host, port, nnodes, node_rank, timeout_s)
    return _CHANNELS[key]
