"""The bandwidth budget shared by every transfer of an instance, across threads and gunicorn workers."""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validates

_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3,
          "kbit": 125, "kibit": 128, "mbit": 125_000, "mibit": 131_072, "gbit": 125_000_000}
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*/\s*s\s*$", re.I)
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
QUANTUM = 256 * 1024  # bytes reserved at a time: small enough to interleave transfers fairly


def parse_rate(text) -> float | None:
    """`50MiB/s`, `500KB/s`, `800Kbit/s` -> bytes per second; `unlimited` -> None."""
    if str(text).strip().lower() == "unlimited":
        return None
    match = _RATE_RE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"bandwidth {text!r} is not like 50MiB/s, 500KB/s, 800Kbit/s or unlimited")
    return float(match.group(1)) * _UNITS[unit]


def _parse_days(text: str) -> set[int]:
    days = set()
    for part in text.lower().split(","):
        first, _, last = part.strip().partition("-")
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
    if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
        raise ValueError(f"hours {text!r} is not a valid time range")
    return h1 * 60 + m1, h2 * 60 + m2


@dataclass(frozen=True)
class Window:
    days: frozenset
    start: int  # minutes after midnight, UTC
    end: int
    rate: float | None

    def covers(self, moment: datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        inside = self.start <= minute < self.end if self.start <= self.end else (minute >= self.start or minute < self.end)
        return moment.weekday() in self.days and inside


@dataclass(frozen=True)
class BandwidthPolicy:
    limit: float | None = None
    windows: tuple[Window, ...] = ()
    per_organization: dict = field(default_factory=dict)

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


class BandwidthSchema(Schema):
    class Meta:
        unknown = RAISE

    limit = _RateField(load_default=None, allow_none=True)
    windows = fields.List(fields.Nested(WindowSchema), load_default=list)
    per_organization = fields.Dict(keys=fields.String(), values=_RateField(), load_default=dict)

    @validates("per_organization")
    def _orgs(self, value, **_):
        if any(not k for k in value):
            raise ValidationError("organization names must not be empty")

    @post_load
    def _make(self, data, **_):
        return BandwidthPolicy(data["limit"], tuple(data["windows"]), dict(data["per_organization"]))


class SharedClock:
    """A virtual-time scheduler in a shared file: each caller reserves the next slot of the link.

    The slot table lives in an mmap'd file created before gunicorn forks, and flock serialises
    updates, so every worker process and thread draws from one budget. Reservations are granted in
    arrival order, QUANTUM bytes at a time, which shares the link fairly between transfers.
    """

    _FMT = "d"

    def __init__(self, path: str | None = None, slots: int = 64):
        if path is None:
            fd, path = tempfile.mkstemp(prefix="swr-bridge-budget-")
            os.close(fd)
        self.path = path
        with open(path, "r+b" if os.path.getsize(path) else "w+b") as fh:
            if os.path.getsize(path) < 8 * slots:
                fh.write(b"\0" * 8 * slots)
        self._fh = open(path, "r+b")
        self._map = mmap.mmap(self._fh.fileno(), 8 * slots)
        self._local = threading.Lock()  # flock is per open file, so threads also need a local lock

    def reserve(self, slot: int, nbytes: int, rate: float) -> float:
        """Books nbytes on `slot` at `rate`; returns the time at which the caller may proceed."""
        with self._local:
            fcntl.flock(self._fh, fcntl.LOCK_EX)
            try:
                now = time.monotonic()
                (free_at,) = struct.unpack_from(self._FMT, self._map, slot * 8)
                start = max(now, free_at)
                struct.pack_into(self._FMT, self._map, slot * 8, start + nbytes / rate)
                return start
            finally:
                fcntl.flock(self._fh, fcntl.LOCK_UN)


class Budget:
    """Blocks callers so that bytes flow at no more than the configured rate (global and per org)."""

    def __init__(self, policy: BandwidthPolicy, clock: SharedClock | None = None):
        self.policy = policy
        self.clock = clock or SharedClock()
        self._org_slots = {org: i + 1 for i, org in enumerate(sorted(policy.per_organization))}
        self.waited = 0.0

    @property
    def active(self) -> bool:
        return self.policy.limit is not None or bool(self.policy.windows) or bool(self.policy.per_organization)

    def acquire(self, nbytes: int, organization: str | None = None) -> None:
        rate = self.policy.rate_at(datetime.now(timezone.utc))
        ready = 0.0
        if rate:
            ready = self.clock.reserve(0, nbytes, rate)
        org_rate = self.policy.per_organization.get(organization) if organization else None
        if org_rate:
            ready = max(ready, self.clock.reserve(self._org_slots[organization], nbytes, org_rate))
        delay = ready - time.monotonic()
        if delay > 0:
            self.waited += delay
            time.sleep(delay)

    def meter(self, organization: str | None = None):
        """A `throttle(n)` callable for one transfer, taking QUANTUM-sized reservations."""
        if not self.active:
            return None

        def throttle(nbytes: int) -> None:
            while nbytes > 0:
                step = min(nbytes, QUANTUM)
                self.acquire(step, organization)
                nbytes -= step
        return throttle
