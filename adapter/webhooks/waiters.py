"""Long polls on the bridge API: a bounded number of waiters per process, woken when an execution changes.

A change committed by any replica must wake the waiters of every process. On PostgreSQL the committing
transaction sends NOTIFY and one LISTEN connection per process hears it (with the execution ids); on SQLite,
where every process shares one file on one host, one thread per process watches `PRAGMA data_version`,
which moves whenever another connection commits. Either way a woken waiter re-reads its execution's row
once: no waiter ever polls the store on a timer of its own.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
CHANNEL = "swr_bridge_executions"
T = TypeVar("T")
_SQLITE_TICK = 0.1  # how often the SQLite watcher looks at data_version while someone waits
_RECONNECT = 1.0


class TooManyWaiters(Exception):
    """This process already holds its limit of long polls."""


def publish(conn, execution_ids) -> None:
    """Inside a write transaction: tells every replica's waiters (on commit) that these executions changed.

    SQLite needs nothing: its watchers see the commit itself."""
    if conn.dialect.name != "postgresql" or not execution_ids:
        return
    payload = ",".join(str(i) for i in sorted(set(execution_ids)))
    # Straight to the driver: this runs in the intake's transaction, once per batch.
    conn.connection.driver_connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload[:7900]))


class Waiters:
    """wait(execution_id, ready, timeout): `ready()` now and after each change, until it answers or time is up."""

    def __init__(self, store, limit: int):
        self.store, self.limit = store, limit
        self._cond = threading.Condition()
        self._waiting: dict[int, int] = {}  # execution id -> waiters on it
        self._changes = 0  # bumped on every wake-up; a waiter sleeps only while it has not moved
        self._seen: dict[int, int] = {}  # execution id -> _changes when it last changed
        self._watcher: threading.Thread | None = None
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: ref() and ref()._after_fork())

    @property
    def count(self) -> int:
        with self._cond:
            return sum(self._waiting.values())

    def wait(self, execution_id: int, ready: Callable[[], T | None], timeout: float,
             clock: Callable[[], float] = time.monotonic) -> T | None:
        """ready()'s first answer that is not None, or None after `timeout`; TooManyWaiters over the limit."""
        with self._cond:
            if sum(self._waiting.values()) >= self.limit:
                raise TooManyWaiters()
            self._waiting[execution_id] = self._waiting.get(execution_id, 0) + 1
            self._start_watcher()
        deadline = clock() + timeout
        try:
            while True:
                with self._cond:
                    mark = self._changes
                found = ready()
                remaining = deadline - clock()
                if found is not None or remaining <= 0:
                    return found
                with self._cond:
                    self._cond.wait_for(functools.partial(self._moved, execution_id, mark), remaining)
        finally:
            with self._cond:
                self._waiting[execution_id] -= 1
                if not self._waiting[execution_id]:
                    del self._waiting[execution_id]
                    self._seen.pop(execution_id, None)

    def _moved(self, execution_id: int, mark: int) -> bool:
        """Under the lock: has this execution (or everything, key 0) changed since `mark`?"""
        return max(self._seen.get(execution_id, -1), self._seen.get(0, -1)) > mark

    def changed(self, execution_ids=None) -> None:
        """Wakes the waiters on these executions (all of them for None)."""
        if execution_ids is not None and any(i <= 0 for i in execution_ids):
            execution_ids = None  # a group of id-less events (Harbor < 2.13): waited on by Harbor's id, if at all
        with self._cond:
            self._changes += 1
            for key in [0] if execution_ids is None else execution_ids:
                if key == 0 or key in self._waiting:
                    self._seen[key] = self._changes
            self._cond.notify_all()

    def _start_watcher(self) -> None:
        """Under the lock: one watcher thread while anyone waits."""
        if self._watcher is None:
            target = self._listen if self.store.dialect == "postgresql" else self._watch_sqlite
            self._watcher = threading.Thread(target=self._run, args=(target,), name="webhooks-waiters", daemon=True)
            self._watcher.start()

    def _after_fork(self) -> None:
        # A forked worker has neither the parent's watcher thread nor its waiters.
        self._cond = threading.Condition()
        self._waiting, self._seen, self._watcher = {}, {}, None

    def _idle(self) -> bool:
        with self._cond:
            return not self._waiting

    def _run(self, watch: Callable[[], None]) -> None:
        while True:
            try:
                watch()  # returns once nobody waits
            except Exception as exc:  # noqa: BLE001 - a lost connection: wake everyone, reconnect
                log.warning("execution change watcher: %s; reconnecting", type(exc).__name__)
                self.changed(None)
                time.sleep(_RECONNECT)
            with self._cond:
                if not self._waiting:  # decided under the lock, so a new waiter starts a new watcher
                    self._watcher = None
                    return

    def _raw(self):
        # A connection of its own, outside the pool: it is held for as long as anyone waits.
        raw = self.store.engine.raw_connection()
        raw.detach()
        return raw

    def _listen(self) -> None:
        raw = self._raw()
        try:
            conn = raw.driver_connection
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self.changed(None)  # whatever committed before LISTEN took effect is re-read once
            while not self._idle():
                for note in conn.notifies(timeout=1.0):
                    self.changed([int(part) for part in note.payload.split(",") if part.lstrip("-").isdigit()])
        finally:
            raw.close()

    def _watch_sqlite(self) -> None:
        raw = self._raw()
        try:
            conn = raw.driver_connection
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            while not self._idle():
                time.sleep(_SQLITE_TICK)
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                if now != version:
                    version = now
                    self.changed(None)
        finally:
            raw.close()
