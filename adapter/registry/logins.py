"""Pass-through logins toward SWR: right secrets cached, wrong ones cached briefly, back-off, a cap on SWR logins.

Secrets are kept only as salted hashes. A secret SWR accepted passes for `ok_seconds` without asking
again; after that SWR is asked again, but the secret stays known for KNOWN_SECONDS and no back-off
holds it: wrong guesses, from anyone, never slow a secret that worked. A secret SWR
refused is refused again for `fail_seconds` without asking SWR, and concurrent attempts with the same
secret share one SWR login. After FREE_FAILURES failures a client address waits, doubling up to
MAX_BACKOFF seconds; the access id's own failure count (from every address) lengthens that wait, but
only for addresses that failed for that access id themselves. At most `max_logins` SWR logins run at once.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

FREE_FAILURES = 3
MAX_BACKOFF = 60.0
FORGET_AFTER = 900.0  # a quiet quarter of an hour wipes a failure record
LIMIT = 10000  # entries per table, so that a flood of distinct guesses cannot grow memory without end
SLOT_WAIT = 5.0
LOCK_WAIT, LOCK_POLL = 35.0, 0.01  # another worker's SWR login with the same secret: up to SWR's timeout
KNOWN_SECONDS = 86400.0


class LoginRefused(Exception):
    """Refused without a valid login: `reason` is wrong, cached, backoff or busy."""

    def __init__(self, reason: str, message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.reason, self.message, self.retry_after = reason, message, retry_after


def backoff(failures: int) -> float:
    return 0.0 if failures < FREE_FAILURES else min(2.0 ** (failures - FREE_FAILURES), MAX_BACKOFF)


class Failures:
    """Failure counts and last failure times by key, forgotten after FORGET_AFTER quiet seconds."""

    def __init__(self):
        self._entries: dict[tuple, tuple[int, float]] = {}

    def get(self, key: tuple, now: float) -> tuple[int, float]:
        count, last = self._entries.get(key, (0, 0.0))
        return (0, 0.0) if now - last > FORGET_AFTER else (count, last)

    def add(self, key: tuple, now: float) -> None:
        count, _ = self.get(key, now)
        if len(self._entries) >= LIMIT:
            self._entries = {k: v for k, v in self._entries.items() if now - v[1] <= FORGET_AFTER}
            if len(self._entries) >= LIMIT:
                self._entries.clear()
        self._entries[key] = (count + 1, now)


class SharedRefusals:
    """The secrets SWR refused, shared by the workers of one instance through a file mapped by each.

    `swr-bridge serve` creates the file before it forks (create_app(login_file=...)): a salt, then SLOTS
    slots of (16 bytes of the salted hash, expiry as a float). A slot is locked (fcntl, per process)
    while its secret is being tried, so a wrong secret sent to every worker at once reaches SWR once.
    A collision evicts the older entry: at worst one more SWR login.
    """

    SLOTS, SLOT = 8192, 24
    SALT = 16

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR)
        size = self.SALT + self.SLOTS * self.SLOT
        with self.lock(-1):
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
                os.pwrite(self._fd, os.urandom(self.SALT), 0)
        self._map = mmap.mmap(self._fd, size)
        self.salt = bytes(self._map[:self.SALT])

    def _offset(self, key: bytes) -> int:
        return self.SALT + int.from_bytes(key[:4], "big") % self.SLOTS * self.SLOT

    @contextmanager
    def lock(self, offset_or_key, wait: float = LOCK_WAIT):
        """Holds the slot's byte while its secret is tried. Never a blocking lockf: record locks belong
        to the process, so a worker whose thread holds one slot while another thread waits for a second,
        against a worker the other way round, is a deadlock to the kernel (EDEADLK, a 500 to Harbor),
        though no thread waits on itself. A slot still taken after `wait` is tried without the lock:
        at worst one more SWR login."""
        start = max(offset_or_key if isinstance(offset_or_key, int) else self._offset(offset_or_key), 0)
        deadline, held = time.monotonic() + wait, False
        while not held:
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, start)
                held = True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    break
                time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            if held:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, start)

    def refused(self, key: bytes, now: float) -> bool:
        offset = self._offset(key)
        entry, expiry = struct.unpack_from("16sd", self._map, offset)
        return entry == key[:16] and expiry > now

    def remember(self, key: bytes, until: float) -> None:
        struct.pack_into("16sd", self._map, self._offset(key), key[:16], until)


class LoginGuard:
    def __init__(self, ok_seconds: float, fail_seconds: float = 30.0, max_logins: int = 4,
                 clock=time.monotonic, on_refused: Callable[[str], None] | None = None, shared: str | None = None):
        self.ok_seconds, self.fail_seconds, self.clock = ok_seconds, fail_seconds, clock
        self.on_refused = on_refused or (lambda reason: None)
        # Expiries in the shared file are on this clock: time.monotonic is one clock for every process.
        self.shared = SharedRefusals(shared) if shared else None
        self._salt = self.shared.salt if self.shared else os.urandom(16)
        self._ok: dict[str, float] = {}
        self._known: dict[str, float] = {}
        self._bad: dict[str, float] = {}
        self._failures = Failures()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_logins)
        self._inflight: dict[str, threading.Lock] = {}

    def key(self, user: str, secret: str) -> str:
        return hashlib.sha256(self._salt + f"{user}\0{secret}".encode()).hexdigest()

    def check(self, user: str, secret: str, address: str, login: Callable[[], bool]) -> None:
        """Returns when the credentials are right; raises LoginRefused otherwise."""
        key = self.key(user, secret)
        if self._cached(self._ok, key):
            return
        self._refuse_known(key)
        wait = 0.0 if self._cached(self._known, key) else self._held(user, address)
        if wait > 0:
            self._refuse("backoff", "too many failed logins from this address; try again later", wait)
        with self._same_secret(key), (self.shared.lock(bytes.fromhex(key)) if self.shared else nullcontext()):
            if self._cached(self._ok, key):
                return
            self._refuse_known(key)  # another thread or worker just had SWR refuse this very secret
            if not self._slots.acquire(timeout=SLOT_WAIT):
                self._refuse("busy", "too many logins in progress; try again later", 1.0)
            try:
                ok = login()
            finally:
                self._slots.release()
            self._remember(key, user, address, ok)
        if not ok:
            self._refuse("wrong", "SWR refused these credentials")

    def _refuse(self, reason: str, message: str, retry_after: float = 0.0):
        self.on_refused(reason)
        raise LoginRefused(reason, message, retry_after)

    def _refuse_known(self, key: str) -> None:
        if self._cached(self._bad, key) or (self.shared and self.shared.refused(bytes.fromhex(key), self.clock())):
            self._refuse("cached", "SWR refused these credentials")

    def _cached(self, table: dict[str, float], key: str) -> bool:
        with self._lock:
            return table.get(key, 0.0) > self.clock()

    def _held(self, user: str, address: str) -> float:
        now = self.clock()
        with self._lock:
            count, last = self._failures.get(("addr", address), now)
            pair, pair_last = self._failures.get(("pair", user, address), now)
            if pair:
                count, last = max(count, self._failures.get(("id", user), now)[0]), max(last, pair_last)
        return last + backoff(count) - now if count else 0.0

    def _same_secret(self, key: str) -> threading.Lock:
        with self._lock:
            if len(self._inflight) > LIMIT:
                self._inflight = {k: v for k, v in self._inflight.items() if v.locked()}
            return self._inflight.setdefault(key, threading.Lock())

    def _remember(self, key: str, user: str, address: str, ok: bool) -> None:
        now = self.clock()
        with self._lock:
            table, ttl = (self._ok, self.ok_seconds) if ok else (self._bad, self.fail_seconds)
            if len(table) >= LIMIT:
                table.clear()
            table[key] = now + ttl
            if ok:
                if len(self._known) >= LIMIT:
                    self._known.clear()
                self._known[key] = now + KNOWN_SECONDS
            else:
                if self.shared:
                    self.shared.remember(bytes.fromhex(key), now + ttl)
                for failure in (("addr", address), ("pair", user, address), ("id", user)):
                    self._failures.add(failure, now)
