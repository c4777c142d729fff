"""Upload seats of a whole fleet, in Redis: leases that expire, so a replica that dies leaks no seat for long.

With `bandwidth.backend: redis://...` every replica takes, besides a seat of its own replica (the
seat file, adapter.upload_seats), a lease on one of the tenant's seats in Redis: a sorted set per
tenant whose members are this process's uploads, scored by when their lease ends. A lease is taken
only while fewer than `seats` unexpired ones are in the set; each process renews the leases it holds
every LEASE / 3 seconds, so a replica that crashes frees its seats within LEASE. While Redis is away
the replica's own seats alone hold (one log line when that starts, one when Redis is back).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import threading
import time

import redis

from adapter.upload_seats import POLL, NoSeat, UploadSeats

log = logging.getLogger("swr_bridge.seats")

PREFIX = "swr-bridge:seats:"
LEASE = 30.0  # seconds a seat is held without a renewal
RETRY = 2.0  # seconds Redis is left alone after a failure: uploads do not each wait for its timeout

# Drops the tenant's expired leases; takes one for ARGV[3] when fewer than ARGV[1] are left (1, else 0).
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
"""
# Moves the end of every lease still held (member ARGV[i + 1] in KEYS[i]) to LEASE from now; a lease a
# restarted Redis lost is written again (its upload still runs: it still counts).
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', key, 2 * tonumber(ARGV[1]))
end
return #KEYS
"""


class FleetSeats:
    """UploadSeats' interface (try_take, wait, give, seats) over this replica's seats and Redis's leases."""

    def __init__(self, client: redis.Redis, local: UploadSeats, lease: float = LEASE):
        self.client, self.local, self.seats, self.lease = client, local, local.seats, lease
        self._take, self._renew = client.register_script(TAKE), client.register_script(RENEW)
        self._held: dict[str, str] = {}  # member -> key: this process's leases
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._pid = None
        self._down_until = 0.0
        self.shared: bool | None = None  # unknown until the first lease

    def try_take(self, key: str):
        """A seat of `key` (a handle for `give`) or None when this replica's or the fleet's are all taken."""
        offset = self.local.try_take(key)
        if offset is None:
            return None
        member = self._lease(key)
        if member is False:
            self.local.give(offset)
            return None
        return offset, member

    def wait(self, key: str, timeout: float, abandoned=lambda: False):
        """As UploadSeats.wait: a seat within `timeout` seconds, else NoSeat."""
        deadline = time.monotonic() + timeout
        while True:
            seat = self.try_take(key)
            if seat is not None:
                return seat
            if time.monotonic() >= deadline or abandoned():
                raise NoSeat(f"all {self.seats} upload seats stayed taken for {timeout:g} s")
            time.sleep(POLL)

    def give(self, seat) -> None:
        offset, member = seat
        self.local.give(offset)
        if member is None:
            return
        with self._lock:
            key = self._held.pop(member, None)
        if key is not None and time.monotonic() >= self._down_until:
            try:
                self.client.zrem(key, member)
            except (redis.RedisError, OSError) as exc:
                self._changed(False, exc)  # the lease ends by itself

    def _lease(self, key: str):
        """The lease's member name; False when the fleet's seats are all taken; None when Redis is away."""
        if time.monotonic() < self._down_until:
            return None
        self._ensure_renewer()
        redis_key = PREFIX + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        member = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}:{next(self._ids)}"
        try:
            taken = self._take(keys=[redis_key], args=[self.seats, int(self.lease * 1000), member])
        except (redis.RedisError, OSError) as exc:
            self._changed(False, exc)
            return None
        self._changed(True)
        if not taken:
            return False
        with self._lock:
            self._held[member] = redis_key
        return member

    def renew(self) -> None:
        with self._lock:
            held = list(self._held.items())
        if not held or time.monotonic() < self._down_until:
            return
        try:
            self._renew(keys=[key for _, key in held], args=[int(self.lease * 1000), *(m for m, _ in held)])
        except (redis.RedisError, OSError) as exc:
            self._changed(False, exc)

    def _changed(self, shared: bool, exc: Exception | None = None) -> None:
        if not shared:
            self._down_until = time.monotonic() + RETRY
        with self._lock:
            if shared == self.shared:
                return
            first, self.shared = self.shared is None, shared
        if not shared:
            log.warning("upload seats: Redis unreachable (%s): this replica's own %d seats per tenant hold alone",
                        type(exc).__name__, self.seats)
        elif not first:
            log.warning("upload seats: Redis is back, the fleet's %d seats per tenant hold again", self.seats)

    def _ensure_renewer(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()  # a thread started before a fork does not run in the child
        threading.Thread(target=self._renewing, name="upload-seat-leases", daemon=True).start()

    def _renewing(self) -> None:
        while True:
            time.sleep(self.lease / 3)
            self.renew()
