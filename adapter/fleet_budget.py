"""The bandwidth budget of a whole fleet, kept in Redis, with a fallback for when Redis is away."""

from __future__ import annotations

import logging
import os
import socket
import threading

import redis

from adapter.throttle import SharedClock
from adapter.transfer.errors import TransferError

log = logging.getLogger("swr_bridge.bandwidth")

PREFIX = "swr-bridge:bandwidth:"
REPLICAS = PREFIX + "replicas"
HEARTBEAT = 2.0  # seconds between a process's heartbeats; also how soon a lost Redis is probed again
# A replica is counted while it heartbeated within this many seconds: a few missed beats are forgiven.
REPLICA_TTL = 4 * HEARTBEAT
TIMEOUT = 0.5  # seconds a Redis call may take before the fallback takes over
MODES = ("local-share", "open", "closed")

# Books nbytes on every key at its rate, as SharedClock.reserve does for a slot of the budget file:
# each key holds the microsecond (Redis clock) at which that link is next free. One call books the
# instance and the organization together, so no process sees one booked and the other not; the
# answer is the delay in microseconds and the 1-based index of the booking that set it (0: none).
BOOK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nbytes, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local ready, which = now, 0
for i, key in ipairs(KEYS) do
  local free_at = tonumber(redis.call('GET', key) or '0')
  local start = math.max(now - burst, free_at)
  local done = start + math.floor(nbytes * 1000000 / tonumber(ARGV[2 + i]))
  redis.call('SET', key, string.format('%d', done), 'PX', math.floor((done - now) / 1000) + 60000)
  if start > ready then ready, which = start, i end
end
return {string.format('%d', ready - now), which}
"""


class BudgetUnavailable(TransferError):
    """The shared budget is unreachable and `on_backend_error: closed` says no bytes move without it:
    the transfer fails with a 503, which Harbor's client retries."""

    def __init__(self):
        super().__init__("UNAVAILABLE", "the shared bandwidth budget is unreachable; retry later", status=503)


def connect(url: str, password: str | None) -> redis.Redis:
    return redis.Redis.from_url(url, password=password, socket_timeout=TIMEOUT,
                                socket_connect_timeout=TIMEOUT, health_check_interval=0)


def client_for(policy) -> redis.Redis:
    """A client of the policy's Redis (`backend`), with the password from the env variable it names."""
    return connect(policy.backend, os.environ.get(policy.password_env) if policy.password_env else None)


class FleetClock:
    """Books on Redis shared by every replica; on a Redis error falls back to `mode` until it is back.

    `local` is this replica's budget file, shared by its processes: in local-share it books at
    limit / the replica count last seen in the heartbeat set. The heartbeat thread of each process
    also probes a lost Redis, so bookings never wait on one that is away and recovery needs no restart.
    """

    def __init__(self, client: redis.Redis, local: SharedClock, mode: str = "local-share",
                 replica: str | None = None, on_change=None):
        if mode not in MODES:
            raise ValueError(f"on_backend_error {mode!r}: use one of {', '.join(MODES)}")
        self.client, self.local, self.mode, self.slots = client, local, mode, local.slots
        self.replica = replica or f"{socket.gethostname()}:{local.path}"
        self.replicas = 1
        self.shared = None  # unknown until the first heartbeat or booking
        self._book = client.register_script(BOOK)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._pid = None
        self._stop = threading.Event()
        self._ensure_heartbeat()

    def now(self) -> float:
        return self.local.now()

    def book(self, bookings, nbytes: int, burst: float) -> tuple[float, int]:
        """Like SharedClock.book: (seconds to wait, index of the binding booking or -1)."""
        self._ensure_heartbeat()
        if self.shared is not False:
            keys = [PREFIX + ("instance" if name is None else "org:" + name) for name, _, _ in bookings]
            try:
                delay, which = self._book(keys=keys, args=[nbytes, int(burst * 1e6),
                                                           *(rate for _, _, rate in bookings)])
                return max(int(delay), 0) / 1e6, int(which) - 1
            except (redis.RedisError, OSError) as exc:
                self._changed(False, exc)
        if self.mode == "open":
            return 0.0, -1
        if self.mode == "closed":
            raise BudgetUnavailable()
        share = max(self.replicas, 1)
        return self.local.book([(n, s, r / share) for n, s, r in bookings], nbytes, burst)

    def heartbeat(self) -> None:
        """Marks this replica alive, counts the live ones; a success after a failure restores sharing."""
        try:
            now = self.client.time()
            moment = now[0] + now[1] / 1e6
            with self.client.pipeline() as pipe:
                pipe.zadd(REPLICAS, {self.replica: moment})
                pipe.zremrangebyscore(REPLICAS, "-inf", moment - REPLICA_TTL)
                pipe.zcard(REPLICAS)
                pipe.expire(REPLICAS, int(REPLICA_TTL * 10))
                count = pipe.execute()[2]
        except (redis.RedisError, OSError) as exc:
            self._changed(False, exc)
            return
        self.replicas = max(int(count), 1)
        self._changed(True)

    def _changed(self, shared: bool, exc: Exception | None = None) -> None:
        with self._lock:
            if shared == self.shared:
                return
            first, self.shared = self.shared is None, shared
        if shared and first:
            log.info("bandwidth budget: booked on Redis, shared by the fleet (%d replicas)", self.replicas)
        elif shared:
            log.warning("bandwidth budget: Redis is back, shared by the fleet again (%d replicas)", self.replicas)
        else:
            log.warning("bandwidth budget: Redis unreachable (%s), on_backend_error %s%s", type(exc).__name__,
                        self.mode, f": this replica takes 1/{self.replicas} of each limit"
                        if self.mode == "local-share" else "")
        if self._on_change:
            self._on_change("shared" if shared else self.mode)

    def _ensure_heartbeat(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()  # a thread started before a fork does not run in the child
        threading.Thread(target=self._beat, name="bandwidth-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.is_set():
            self.heartbeat()
            self._stop.wait(HEARTBEAT)

    def close(self) -> None:
        self._stop.set()
        self.client.close()

