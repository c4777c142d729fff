"""SWR's temporary blacklist in the sandbox: a tenant that asks for tokens too often is refused for 30 minutes.

What SWR says (swr.md §4.5): heavy concurrency or frequent access gets an account blacklisted, with
`denied: Not allow to login, upload or download image`, for 30 minutes. What it does not say, and the
sandbox therefore picks: the trigger (more than `logins` token requests of one tenant within WINDOW
seconds) and the answer (403 with the registry error code DENIED and SWR's words), on the token service
and on every registry request with the tenant's token alike.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from adapter.transfer.blacklist import BLACKLIST_SECONDS

WINDOW = 60.0
# Token requests of one tenant within WINDOW: ten a second for a minute. A docker client asks once per
# repository and push; the sandbox's own tests stay far below it.
BLACKLIST_LOGINS = 600


class Blacklist:
    """Token requests per tenant over the last WINDOW seconds, and the tenants blacklisted until when."""

    def __init__(self, logins: int | None = BLACKLIST_LOGINS, seconds: float = BLACKLIST_SECONDS,
                 clock=time.monotonic):
        self.logins, self.seconds, self.clock = logins, seconds, clock
        self._recent: dict[str, deque] = {}
        self._until: dict[str, float] = {}
        self.refused: dict[str, int] = {}  # tenant -> requests refused as blacklisted (what tests count)
        self._lock = threading.Lock()

    def login(self, tenant: str) -> float | None:
        """Counts a token request of `tenant`; the seconds it stays blacklisted (None: it is not). The
        request that goes over the limit is the first one refused."""
        now = self.clock()
        with self._lock:
            left = self._left(tenant, now)
            if left is not None or not self.logins:
                return left
            recent = self._recent.setdefault(tenant, deque())
            while recent and recent[0] <= now - WINDOW:
                recent.popleft()
            recent.append(now)
            if len(recent) <= self.logins:
                return None
            recent.clear()
            self._until[tenant] = now + self.seconds
            self.refused[tenant] = self.refused.get(tenant, 0) + 1
            return self.seconds

    def blocked(self, tenant: str) -> float | None:
        """The seconds `tenant` stays blacklisted; None when it is not."""
        if not self._until:
            return None
        with self._lock:
            return self._left(tenant, self.clock())

    def block(self, tenant: str, seconds: float | None = None) -> None:
        """Blacklists `tenant` now, for `seconds` (default: SWR's 30 minutes)."""
        with self._lock:
            self._until[tenant] = self.clock() + (self.seconds if seconds is None else seconds)

    def lift(self, tenant: str) -> None:
        with self._lock:
            self._until.pop(tenant, None)

    def _left(self, tenant: str, now: float) -> float | None:
        until = self._until.get(tenant)
        if until is None:
            return None
        if until <= now:
            del self._until[tenant]
            return None
        self.refused[tenant] = self.refused.get(tenant, 0) + 1
        return until - now
