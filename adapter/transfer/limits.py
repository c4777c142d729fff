"""SWR's limits as both data paths keep them: layer size and request pacing (swr.md §4.5)."""

from __future__ import annotations

import math
import re
import threading
import time

# OTC documents "at most 10 GB per layer"; the decimal reading is the smaller one, so it is the safe one.
LAYER_LIMIT = 10 * 1000**3
# "the image push traffic for a single tenant is limited to 20 QPS"
PUSH_RATE = 20.0
# "at most 20 layers pushed at once" (per tenant, as the push rate is)
MAX_CONCURRENT_LAYERS = 20
MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After than this from a peer is taken as this

_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
MAX_SIZE = 1000**6  # an exabyte: any size beyond it is a typo (and past it floats stop counting bytes)
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)


def parse_size(text) -> int:
    """`10GB`, `512MiB`, `4096` -> bytes."""
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"size {text!r} is not like 10GB, 512MiB or a number of bytes")
    size = float(match.group(1)) * _SIZE_UNITS[unit]
    if not math.isfinite(size) or size > MAX_SIZE:  # int(inf) would be an OverflowError traceback
        raise ValueError(f"size {str(text)[:40]!r} is larger than 1 EB (10**18 bytes)")
    return int(size)


def human_size(nbytes: int) -> str:
    for unit, size in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if nbytes >= size:
            return f"{nbytes / size:g} {unit}"
    return f"{nbytes} bytes"


def layer_too_large(size: int, limit: int | None) -> str | None:
    """The refusal's wording when a blob of `size` bytes is over `limit` (None: it fits)."""
    if limit is None or size <= limit:
        return None
    return (f"the layer is {size} bytes, over SWR's limit of {human_size(limit)} per layer; "
            f"SWR refuses it, so it is not sent (split the layer, or push this image elsewhere)")


# Requests leave evenly spaced but arrive bunched by the network and the threads that send them: pacing
# at 90% of the allowed rate keeps any one second of arrivals at or under it (measured in
# tests/integration/sync/test_sync_rate.py: at 100% one second in a minute held 22 of 20, and 4% were refused).
PACE_MARGIN = 0.9


class Pacer:
    """Fewer than `rate` requests per second for all the threads that share it, evenly spaced (no bursts),
    and a pause for all of them when the peer said Retry-After."""

    def __init__(self, rate: float | None, clock=time.monotonic, sleep=time.sleep, margin: float = PACE_MARGIN):
        self.interval = 1.0 / (rate * margin) if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Blocks until this caller's turn."""
        if not self.interval and not self._next:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Nobody sends before `seconds` from now (a 429/503's Retry-After, capped)."""
        with self._lock:
            self._next = max(self._next, self._clock() + min(seconds, MAX_RETRY_AFTER))


def ceil_seconds(seconds: float) -> int:
    """Retry-After is whole seconds; never 0, which would invite an immediate retry."""
    return max(1, math.ceil(seconds))
