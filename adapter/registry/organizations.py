"""Makes sure an SWR organization exists before the first write into it, and remembers that it does."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from adapter.registry.principal import Principal

# The API gateway's "Incorrect IAM authentication information" (swr.md §2.2): a wrong SK, a skewed clock.
SIGNATURE_CODES = frozenset({"APIGW.0301"})


class Organizations:
    """Creates organizations through the signed SWR API, or the dockyard call when only a login key is known."""

    def __init__(self, api_url: str, dockyard_url: str, session, timeout: float, auto_create: bool = True,
                 ttl: float = 600.0, config_keys: tuple[str, str] = (
                     "`swr.api` in the config (derived from `swr.region` when unset)",
                     "`swr.dockyard` in the config (the registry when unset)")):
        self.api_url, self.dockyard_url = api_url, dockyard_url
        # Where the user sets each URL, named when its host does not resolve: (api, dockyard).
        self.config_keys = config_keys
        self.session, self.timeout, self.auto_create, self.ttl = session, timeout, auto_create, ttl
        self._known: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def client(self, principal: Principal, retries: int = 3):
        from adapter.swr.api import DockyardClient, SwrApi

        if principal.sk:
            return SwrApi(self.api_url, principal.ak, principal.sk, session=self.session,
                          timeout=(5, self.timeout), retries=retries)
        return DockyardClient(self.dockyard_url, principal.access_id, principal.password,
                              session=self.session, timeout=(5, self.timeout), retries=retries)

    def ensure(self, principal: Principal, org: str) -> None:
        if not self.auto_create:
            return
        key, now = (principal.access_id, org), time.time()
        with self._lock:
            if self._known.get(key, 0) > now:
                return
        self._create(principal, org)
        with self._lock:
            if len(self._known) > 10000:
                self._known.clear()
            self._known[key] = now + self.ttl

    def _create(self, principal: Principal, org: str) -> None:
        from adapter.swr import api

        try:
            self.client(principal).ensure_organization(org)
        except (api.SwrUnreachable, api.SwrHTTPError) as exc:
            key = self.config_keys[0 if principal.sk else 1]
            raise _refusal(org, exc, key) from None


def _refusal(org: str, exc: Exception, config_key: str) -> Exception:
    """The RegistryError for SWR's refusal (counted in the metrics when SWR failed). Imported here, not at the
    top: the sync uses this module too, and a sync that succeeds needs neither Flask nor prometheus."""
    from adapter import metrics
    from adapter.registry.errors import RegistryError
    from adapter.swr import api

    if isinstance(exc, api.SwrNameInvalid):
        return RegistryError("NAME_INVALID", f"SWR refused organization {org!r}: {exc.message}")
    if isinstance(exc, api.SwrQuotaExceeded):
        return RegistryError("DENIED", f"cannot create organization {org!r}: {exc.message}")
    if isinstance(exc, api.SwrAuthError) and (exc.code or "").upper() in SIGNATURE_CODES:
        # The gateway refuses before SWR sees the request: the organization is not what failed.
        return RegistryError("DENIED", f"SWR refused the request's AK/SK signature ({exc.code}: {exc.message}); "
                             "the secret key does not belong to the access key")
    if isinstance(exc, api.SwrAuthError):
        return RegistryError("DENIED", f"SWR refused to create organization {org!r}: {exc.message}")
    if isinstance(exc, api.SwrUnreachable) and exc.kind == "dns":
        metrics.UPSTREAM_ERRORS.labels(target="api", kind="unreachable").inc()
        host = urlsplit(exc.url).hostname
        return RegistryError("UPSTREAM_UNREACHABLE", f"cannot create organization {org!r}: the host name {host} "
                             f"does not resolve (not retried); it comes from {config_key}",
                             transient=False)
    if isinstance(exc, api.SwrUnreachable):
        metrics.UPSTREAM_ERRORS.labels(target="api", kind="timeout" if exc.kind == "timeout" else "unreachable").inc()
        code = "UPSTREAM_TIMEOUT" if exc.kind == "timeout" else "UPSTREAM_UNREACHABLE"
        return RegistryError(code, "SWR management API is unreachable")
    if exc.status >= 500:
        metrics.UPSTREAM_ERRORS.labels(target="api", kind="http_5xx").inc()
    status = 502 if exc.status >= 500 else 403
    return RegistryError("DENIED" if status == 403 else "UPSTREAM_ERROR",
                         f"cannot create organization {org!r}: {exc.message}", status=status)
