"""Registry authentication pieces: the WWW-Authenticate challenge and a cache of bearer tokens."""

from __future__ import annotations

import threading
import time


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Splits `Bearer realm="..",service=".."` into the scheme and its parameters."""
    scheme, _, rest = (header or "").strip().partition(" ")
    params, key, buf, quoted = {}, "", "", False
    for ch in rest:
        if quoted:
            if ch == '"':
                quoted = False
            else:
                buf += ch
        elif ch == '"':
            quoted = True
        elif ch == "=" and not key:
            key, buf = buf.strip().lower(), ""
        elif ch == ",":
            if key:
                params[key] = buf
            key, buf = "", ""
        else:
            buf += ch
    if key:
        params[key] = buf.strip()
    return scheme.lower(), params


class TokenCache:
    """Bearer tokens by key until 30 s before they expire; thread-safe and bounded.

    `fetching(key)` is a lock per key, so that threads needing the same token fetch it once.
    """

    def __init__(self, limit: int = 10000, clock=time.time):
        self.limit, self.clock = limit, clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def fetching(self, key: str) -> threading.Lock:
        with self._lock:
            if len(self._fetching) > self.limit:
                self._fetching = {k: v for k, v in self._fetching.items() if v.locked()}
            return self._fetching.setdefault(key, threading.Lock())

    def get(self, key: str) -> str | None:
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > self.clock():
                self.hits += 1
                return cached[0]
        return None

    def put(self, key: str, token: str, expires_in) -> None:
        ttl = max(int(expires_in or 60) - 30, 5)
        with self._lock:
            self._tokens[key] = (token, self.clock() + ttl)
            if len(self._tokens) > self.limit:  # drop the oldest half
                for stale in sorted(self._tokens, key=lambda k: self._tokens[k][1])[:self.limit // 2]:
                    del self._tokens[stale]
