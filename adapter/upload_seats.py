"""Upload seats: at most N layer uploads per SWR tenant at once, across every worker process of a replica.

SWR allows a tenant at most 20 layers pushed at once (swr.md §4.5). A seat is one byte of a shared
file, locked with fcntl: every worker opens the file that `serve` created before it forked, and a
byte one process holds cannot be locked by another. The kernel drops a process's locks when it
exits, so a worker that crashes mid-upload leaks no seat. Record locks belong to the process, not
the thread, so each process also keeps the set of bytes its own threads hold and never tries those.

A tenant (hashed) owns `seats` consecutive bytes in one of TENANTS regions; two tenants that share a
region share their seats (fewer uploads at once, never more). Taking a free seat costs a thread lock
and at most `seats` non-blocking lockf calls; only an upload that finds them all taken polls.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time

from adapter.throttle import private_file

TENANTS = 1 << 16  # regions of the seat file (a sparse file: nothing is written to it)
POLL = 0.05  # seconds between looks at the other workers' seats while every seat is taken


class NoSeat(TimeoutError):
    """Every seat of the tenant stayed taken for the whole wait."""


class UploadSeats:
    """`seats` seats per tenant key, shared through the file at `path` (None: this process's own)."""

    def __init__(self, seats: int, path: str | None = None, *, clock=time.monotonic):
        self.seats, self.clock = seats, clock
        self.path = path or private_file(self, "swr-bridge-seats-")
        self._pid = None
        self._open()

    def _open(self) -> None:
        # Not closing an inherited descriptor: a close would drop every lock this process has on the file.
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held: set[int] = set()  # bytes this process's threads hold
        self._cond = threading.Condition()
        self._pid = os.getpid()

    def region(self, key: str) -> int:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % TENANTS * self.seats

    def try_take(self, key: str) -> int | None:
        """A free seat of `key` (its byte offset, for `give`), or None when all are taken."""
        if self._pid != os.getpid():
            self._open()  # forked: the parent's threads' seats are not this process's
        base = self.region(key)
        with self._cond:
            return self._take(base)

    def _take(self, base: int) -> int | None:
        for offset in range(base, base + self.seats):
            if offset in self._held:
                continue
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:  # another worker holds it
                continue
            self._held.add(offset)
            return offset
        return None

    def wait(self, key: str, timeout: float, abandoned=lambda: False) -> int:
        """Waits up to `timeout` seconds for a seat of `key`; raises NoSeat if none frees, or as soon as
        `abandoned()` says the request is gone. A seat of this process wakes a waiter when it frees;
        the other workers' seats are looked at every POLL seconds."""
        base, deadline = self.region(key), self.clock() + timeout
        with self._cond:
            while True:
                offset = self._take(base)
                if offset is not None:
                    return offset
                left = deadline - self.clock()
                if left <= 0 or abandoned():
                    raise NoSeat(f"all {self.seats} upload seats stayed taken for {timeout:g} s")
                self._cond.wait(min(left, POLL))

    def give(self, offset: int) -> None:
        with self._cond:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)
            self._held.discard(offset)
            self._cond.notify()


def upload_seats(seats: int | None, path: str | None, policy):
    """The endpoint's seats: none (`seats` None), this replica's, or with `bandwidth.backend: redis://`
    (the BandwidthPolicy `policy`) the fleet's as well."""
    if not seats:
        return None
    local = UploadSeats(seats, path)
    if policy.backend == "local":
        return local
    # Only here, as for the budget: Redis's client is for a fleet that shares it.
    from adapter.fleet_budget import client_for
    from adapter.fleet_seats import FleetSeats

    return FleetSeats(client_for(policy), local)
