"""The SWR registry as seen from the relay: challenge discovery, bearer tokens per scope, error mapping."""

from __future__ import annotations

import hashlib
import threading
import time
from urllib.parse import urljoin, urlsplit

import requests

from adapter import metrics
from adapter.registry.errors import RegistryError
from adapter.registry.principal import Principal


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Splits `Bearer realm="..",service=".."` into the scheme and its parameters."""
    scheme, _, rest = (header or "").strip().partition(" ")
    params, key, buf, quoted, i = {}, "", "", False, 0
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
        i += 1
    if key:
        params[key] = buf.strip()
    return scheme.lower(), params


class Upstream:
    """One per app: holds the session, the cached challenge and the token cache (all process-local)."""

    def __init__(self, registry_url: str, allowed_hosts: set[str], session: requests.Session,
                 timeout: float = 30.0, verify=True):
        self.base = registry_url.rstrip("/")
        self.allowed_hosts = set(allowed_hosts) | {urlsplit(self.base).netloc}
        self.session, self.timeout, self.verify = session, timeout, verify
        self._challenge: tuple[str, str] | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.token_hits = 0

    # --- urls -----------------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """An absolute upstream URL; refuses hosts that are not configured (no SSRF)."""
        url = urljoin(self.base + "/", path_or_url)
        if urlsplit(url).netloc not in self.allowed_hosts:
            raise RegistryError("UPSTREAM_ERROR", "upstream pointed at a host that is not configured", status=502)
        return url

    # --- auth -----------------------------------------------------------------------------------
    def challenge(self) -> tuple[str, str]:
        if self._challenge is None:
            resp = self._send("GET", self.base + "/v2/", headers={}, stream=False)
            scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            if resp.status_code != 401 or scheme != "bearer" or "realm" not in params:
                raise RegistryError("UPSTREAM_ERROR", "SWR registry did not offer a Bearer challenge", status=502)
            self.url(params["realm"])  # the realm must be a configured host too
            self._challenge = (params["realm"], params.get("service", ""))
        return self._challenge

    def fetch_token(self, principal: Principal, scopes: list[str]) -> requests.Response:
        realm, service = self.challenge()
        params = [("service", service)] + [("scope", s) for s in scopes]
        return self._send("GET", realm, params=params, auth=(principal.access_id, principal.password),
                          headers={}, stream=False)

    def login(self, principal: Principal) -> bool:
        """True when SWR accepts the credentials (a token request without scope)."""
        resp = self.fetch_token(principal, [])
        if resp.status_code in (401, 403):
            return False
        if resp.status_code != 200:
            raise RegistryError("UPSTREAM_ERROR", f"SWR token service answered {resp.status_code}", status=502)
        return True

    def token(self, principal: Principal, scopes: list[str], fresh: bool = False) -> str:
        key = hashlib.sha256("\0".join([principal.access_id, principal.password, *scopes]).encode()).hexdigest()
        now = time.time()
        with self._lock:
            cached = self._tokens.get(key)
            if cached and not fresh and cached[1] > now:
                self.token_hits += 1
                metrics.token_cache(hit=True)
                return cached[0]
        metrics.token_cache(hit=False)
        resp = self.fetch_token(principal, scopes)
        if resp.status_code in (401, 403):
            raise RegistryError("UNAUTHORIZED", "SWR refused the credentials", status=401)
        if resp.status_code != 200:
            raise RegistryError("UPSTREAM_ERROR", f"SWR token service answered {resp.status_code}", status=502)
        data = resp.json()
        token = data.get("token") or data.get("access_token") or ""
        ttl = max(int(data.get("expires_in") or 60) - 30, 5)
        with self._lock:
            self._tokens[key] = (token, now + ttl)
            if len(self._tokens) > 10000:  # bounded: drop the oldest half
                for stale in sorted(self._tokens, key=lambda k: self._tokens[k][1])[:5000]:
                    del self._tokens[stale]
        return token

    # --- requests -------------------------------------------------------------------------------
    def request(self, principal: Principal, method: str, path_or_url: str, scopes: list[str], *,
                headers=None, data=None, params=None, stream=True, replayable=True) -> requests.Response:
        url = self.url(path_or_url)
        hdrs = dict(headers or {})
        hdrs["Authorization"] = f"Bearer {self.token(principal, scopes)}"
        resp = self._send(method, url, headers=hdrs, data=data, params=params, stream=stream)
        if resp.status_code == 401 and replayable:
            resp.close()
            hdrs["Authorization"] = f"Bearer {self.token(principal, scopes, fresh=True)}"
            resp = self._send(method, url, headers=hdrs, data=data, params=params, stream=stream)
        return resp

    def _send(self, method, url, *, headers, data=None, params=None, stream=True, auth=None):
        errors = metrics.UPSTREAM_ERRORS
        try:
            resp = self.session.request(method, url, headers=headers, data=data, params=params, stream=stream,
                                        auth=auth, timeout=(5, self.timeout), verify=self.verify,
                                        allow_redirects=False)
        except requests.Timeout:
            errors.labels(target="registry", kind="timeout").inc()
            raise RegistryError("UPSTREAM_TIMEOUT", "SWR registry timed out", status=504) from None
        except requests.ConnectionError:
            errors.labels(target="registry", kind="unreachable").inc()
            raise RegistryError("UPSTREAM_UNREACHABLE", "SWR registry is unreachable", status=502) from None
        except requests.RequestException as exc:
            errors.labels(target="registry", kind="protocol").inc()
            raise RegistryError("UPSTREAM_ERROR", f"request to SWR failed: {type(exc).__name__}", status=502) from None
        if resp.status_code >= 500:
            errors.labels(target="registry", kind="http_5xx").inc()
        return resp
