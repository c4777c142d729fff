"""The bandwidth budget shared by every transfer of an instance, across threads and gunicorn workers."""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import re
import struct
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from harbor_client.units import parse_rate, split_url

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Bytes booked at a time: the relay's chunk. Transfers take turns a chunk at a time, and while one
# sends its chunk upstream and reads the next, the others' bookings keep the link busy (with
# smaller bookings every transfer reached the end of its chunk at about the same moment, and the
# link sat idle while they all did their I/O).
QUANTUM = 1024 * 1024
SLOTS = 64  # slot 0 is the instance's link; one more per organization with a limit of its own
# Seconds of the link a late booking may still claim: when every transfer stalled at once (CPU, a
# slow upstream write), they catch up on up to this much instead of losing it for good. Over any
# interval W at most rate x (W + BURST) bytes go through. A transfer catches up with one booking and
# then waits its turn again, so the one that wakes first cannot take the whole catch-up.
BURST = 0.1
MAX_ORGANIZATIONS = SLOTS - 1


def _parse_days(text: str) -> set[int]:
    days = set()
    for part in text.lower().split(","):
        first, _, last = (s.strip() for s in part.partition("-"))
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"days {text!r}: use mon..sun, ranges like mon-fri, or lists like sat,sun")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def _parse_hours(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", text.strip())
    if not match:
        raise ValueError(f"hours {text!r} must look like 08:00-18:00")
    h1, m1, h2, m2 = map(int, match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start > 1440 or end > 1440:
        raise ValueError(f"hours {text!r} is not a valid time range (00:00 to 24:00)")
    if start == end or start == 1440:
        raise ValueError(f"hours {text!r} is an empty window")
    return start, end


@dataclass(frozen=True)
class Window:
    days: frozenset
    start: int  # minutes after midnight, UTC
    end: int
    rate: float | None

    def covers(self, moment: datetime) -> bool:
        """True when `moment` (UTC) falls inside; the hours past midnight of an overnight window
        (22:00-06:00) belong to the day the window started on."""
        minute = moment.hour * 60 + moment.minute
        day = moment.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return day in self.days
        return minute < self.end and (day - 1) % 7 in self.days


@dataclass(frozen=True)
class BandwidthPolicy:
    limit: float | None = None
    windows: tuple[Window, ...] = ()
    per_organization: dict = field(default_factory=dict)
    backend: str = "local"  # or redis://host:6379/0, rediss://...: one budget for the whole fleet
    password_env: str | None = None
    on_backend_error: str = "local-share"

    def rate_at(self, moment: datetime) -> float | None:
        for window in self.windows:
            if window.covers(moment):
                return window.rate
        return self.limit


class _RateField(fields.String):
    def _deserialize(self, value, attr, data, **kw):
        try:
            return parse_rate(super()._deserialize(value, attr, data, **kw))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class WindowSchema(Schema):
    class Meta:
        unknown = RAISE

    days = fields.String(load_default="mon-sun")
    hours = fields.String(load_default="00:00-24:00")
    limit = _RateField(required=True)

    @post_load
    def _make(self, data, **_):
        try:
            return Window(frozenset(_parse_days(data["days"])), *_parse_hours(data["hours"]), data["limit"])
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def validate_backend(url: str) -> None:
    """Raises ValueError unless `url` is `local` or a redis:// / rediss:// URL without a password."""
    if url == "local":
        return
    parts = split_url(url)
    if not parts or parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("backend: use local, redis://host:6379/0 or rediss://host:6380/0")
    if parts.password:
        raise ValueError("backend: put the Redis password in password_env, not in the URL")


class BandwidthSchema(Schema):
    class Meta:
        unknown = RAISE

    limit = _RateField(load_default=None, allow_none=True)
    windows = fields.List(fields.Nested(WindowSchema), load_default=list)
    per_organization = fields.Dict(keys=fields.String(), values=_RateField(), load_default=dict)
    backend = fields.String(load_default="local")
    password_env = fields.String(load_default=None, allow_none=True)
    on_backend_error = fields.String(load_default="local-share",
                                     validate=validate.OneOf(["local-share", "open", "closed"]))

    @validates("backend")
    def _backend(self, value, **_):
        try:
            validate_backend(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    @validates("per_organization")
    def _orgs(self, value, **_):
        from adapter.swr.naming import namespace_violations

        if any(not k for k in value):
            raise ValidationError("organization names must not be empty")
        # A name SWR refuses (or a path) would never match a transfer: its limit would silently not apply.
        bad = {k: [f"expected an SWR organization: {e}" for e in namespace_violations(k)] or
               ["expected an SWR organization, not a path"] for k in value if "/" in k or namespace_violations(k)}
        if bad:
            raise ValidationError(bad)
        if len(value) > MAX_ORGANIZATIONS:
            raise ValidationError(f"at most {MAX_ORGANIZATIONS} organizations can have a limit of their own")

    @post_load
    def _make(self, data, **_):
        return BandwidthPolicy(data["limit"], tuple(data["windows"]), dict(data["per_organization"]),
                               data["backend"], data["password_env"], data["on_backend_error"])


class SharedClock:
    """A virtual-time scheduler in a shared file: each caller reserves the next slot of the link.

    Slot i of the file holds the monotonic time at which link i is next free. The file is created
    before gunicorn forks (`serve` hands its path to create_app); each process opens it on its own (again after
    a fork), so flock, which belongs to an open file description, excludes every other process,
    and a thread lock excludes the other threads. Reservations are granted in arrival order, a
    QUANTUM at a time, so backlogged transfers take turns and share the link fairly.
    """

    _FMT = "d"

    def __init__(self, path: str | None = None, slots: int = SLOTS, now=time.monotonic):
        if path is None:
            path = private_file(self, "swr-bridge-budget-")  # a private budget
        self.path, self.slots, self.now = path, slots, now
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8 * slots:
                os.ftruncate(fd, 8 * slots)  # zero-filled: every slot free
        finally:
            os.close(fd)
        self._pid = None
        self._open()

    def _open(self) -> None:
        self._fh = open(self.path, "r+b")
        self._map = mmap.mmap(self._fh.fileno(), 8 * self.slots)
        self._local = threading.Lock()  # flock does not exclude threads sharing the file description
        self._pid = os.getpid()

    def reserve(self, slot: int, nbytes: int, rate: float, burst: float = 0.0) -> float:
        """Books nbytes on `slot` at `rate`; returns the time at which the caller may proceed.

        The booking starts where the last one ended; if the link has been free since, it starts
        `burst` seconds ago at the earliest (a start in the past means: go now).
        """
        if not 0 <= slot < self.slots:
            raise IndexError(f"budget slot {slot} outside 0..{self.slots - 1}")
        if self._pid != os.getpid():
            self._open()  # forked: the inherited description would share the parent's flock
        with self._local:
            fcntl.flock(self._fh, fcntl.LOCK_EX)
            try:
                now = self.now()
                (free_at,) = struct.unpack_from(self._FMT, self._map, slot * 8)
                start = max(now - burst, free_at)
                struct.pack_into(self._FMT, self._map, slot * 8, start + nbytes / rate)
                return start
            finally:
                fcntl.flock(self._fh, fcntl.LOCK_UN)

    def book(self, bookings, nbytes: int, burst: float) -> tuple[float, int]:
        """Books nbytes on each (name, slot, rate); returns the seconds until all of them allow it to
        go and the index of the booking that held it longest (-1 when none holds it)."""
        ready, which = self.now(), -1
        for i, (_, slot, rate) in enumerate(bookings):
            start = self.reserve(slot, nbytes, rate, burst)
            if start > ready:
                ready, which = start, i
        return ready - self.now(), which

    def close(self) -> None:
        self._map.close()
        self._fh.close()


def fleet_clock(policy: BandwidthPolicy, local: SharedClock, on_change=None):
    """The clock the policy asks for: the budget file alone, or Redis in front of it (a FleetClock)."""
    if policy.backend == "local":
        return local
    # Only here: Redis's client (with asyncio, about 9 MiB in every process) is for a fleet that books on it.
    from adapter.fleet_budget import FleetClock, client_for

    return FleetClock(client_for(policy), local, policy.on_backend_error, on_change=on_change)


def fresh_file(prefix: str) -> str:
    """A fresh empty temporary file (its path); whoever asked removes it."""
    fd, path = tempfile.mkstemp(prefix=prefix)
    os.close(fd)
    return path


def private_file(owner, prefix: str) -> str:
    """A fresh empty file of `owner`'s own: it goes when `owner` does (in the process that made it)."""
    path = fresh_file(prefix)
    weakref.finalize(owner, _remove, path, os.getpid())
    return path


def _remove(path: str, pid: int) -> None:
    if os.getpid() == pid:
        with contextlib.suppress(OSError):
            os.unlink(path)


class Budget:
    """Blocks callers so that bytes flow at no more than the configured rate (global and per org).

    Slot 0 of the clock is the instance's link; each organization with its own limit has a slot
    of its own, numbered in sorted order so that every worker agrees on the numbering.
    """

    def __init__(self, policy: BandwidthPolicy, clock: SharedClock | None = None, *,
                 utcnow=lambda: datetime.now(timezone.utc), sleep=time.sleep, on_wait=None):
        self.policy = policy
        orgs = sorted(policy.per_organization)
        self.clock = clock or SharedClock(slots=len(orgs) + 1)
        if len(orgs) + 1 > self.clock.slots:
            raise ValueError(f"{len(orgs)} per-organization limits need {len(orgs) + 1} budget slots, "
                             f"the budget file has {self.clock.slots}")
        self._org_slots = {org: i + 1 for i, org in enumerate(orgs)}
        self._utcnow, self._sleep = utcnow, sleep
        # on_wait(seconds, limit), limit "instance" or "organization": the endpoint counts them in /metrics
        self._on_wait = on_wait

    @property
    def active(self) -> bool:
        return self.policy.limit is not None or bool(self.policy.windows) or bool(self.policy.per_organization)

    def acquire(self, nbytes: int, organization: str | None = None, burst: float = BURST) -> float:
        """Reserves nbytes and sleeps until they may go; returns the seconds slept."""
        bookings = []
        rate = self.policy.rate_at(self._utcnow())
        if rate:
            bookings.append((None, 0, rate))
        org_rate = self.policy.per_organization.get(organization) if organization else None
        if org_rate:
            bookings.append((organization, self._org_slots[organization], org_rate))
        if not bookings:
            return 0.0
        delay, which = self.clock.book(bookings, nbytes, burst)
        if delay <= 0:
            return 0.0
        self._sleep(delay)
        if self._on_wait:
            self._on_wait(delay, "instance" if bookings[which][0] is None else "organization")
        return delay

    def meter(self, organization: str | None = None):
        """A `throttle(n)` callable for one transfer, taking QUANTUM-sized reservations; None if unlimited."""
        if not self.active:
            return None

        burst = [BURST]  # this transfer's catch-up allowance: back after it has waited once

        def throttle(nbytes: int) -> None:
            while nbytes > 0:
                step = min(nbytes, QUANTUM)
                slept = self.acquire(step, organization, burst[0])
                burst[0] = BURST if slept > 0 else 0.0
                nbytes -= step
        return throttle
