"""SWR's temporary blacklist as both data paths meet it: recognised by SWR's words, then nothing sent for a while.

swr.md §4.5 (UMN): "If you concurrently upload large numbers of images or frequently request access to the
service, the system will blacklist you ... `denied: Not allow to login, upload or download image` ... Try
again 30 minutes later". Every request sent meanwhile fails anyway and may keep the account listed, so
a client that met the answer sends nothing more for that account until the hold ends; the caller
learns why, and when to try again, at once.
"""

from __future__ import annotations

import threading
import time

# SWR's words; the sandbox answers with them too. The status that carries them is not documented.
BLACKLIST_MESSAGE = "Not allow to login, upload or download image"
BLACKLIST_SECONDS = 1800.0  # "Try again 30 minutes later"
_NEEDLE = BLACKLIST_MESSAGE.lower().encode()


def is_blacklisted(status: int, body: bytes) -> bool:
    """Whether an answer is SWR's blacklist refusal (a 401 or 403 with its words, in any error shape)."""
    return status in (401, 403) and _NEEDLE in (body or b"")[:64 * 1024].lower()


class Holds:
    """Accounts (by user name) not to send anything for, until when; `seconds` 0 holds nothing."""

    def __init__(self, seconds: float = BLACKLIST_SECONDS, clock=time.time):
        self.seconds, self.clock = seconds, clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        """Whether any account is held (or its end not reported yet): what every call asks first."""
        return bool(self._until)

    def start(self, user: str) -> bool:
        """Holds `user` for `seconds` from now; True when it was not held already (a change of state)."""
        with self._lock:
            new = self._until.get(user, 0.0) <= self.clock()
            if new:
                self._until[user] = self.clock() + self.seconds
            return new

    def left(self, user: str) -> float | None:
        """Seconds the hold on `user` lasts yet; None when there is none, 0.0 once when it has just ended
        (so that its end is reported once)."""
        with self._lock:
            until = self._until.get(user)
            if until is None:
                return None
            left = until - self.clock()
            if left > 0:
                return left
            del self._until[user]
            return 0.0
