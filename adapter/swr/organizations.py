"""Makes sure an SWR organization exists before the first write into it, and remembers that it does."""

from __future__ import annotations

import threading
import time

from adapter.swr import api
from adapter.swr.principal import Principal


class OrganizationError(api.SwrError):
    """SWR refused, or failed, to create an organization; `code` and `status` say it the OCI way,
    `upstream` names SWR's own failure ("timeout", "unreachable", "http_5xx") when there was one."""

    def __init__(self, code: str, message: str, status: int, upstream: str | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.upstream = code, message, status, upstream


class Organizations:
    """Creates organizations through the signed SWR API, or the dockyard call when only a login key is known."""

    def __init__(self, api_url: str, dockyard_url: str, session, timeout: float, auto_create: bool = True,
                 ttl: float = 600.0):
        self.api_url, self.dockyard_url = api_url, dockyard_url
        self.session, self.timeout, self.auto_create, self.ttl = session, timeout, auto_create, ttl
        self._known: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def client(self, principal: Principal, retries: int = 3):
        if principal.sk:
            return api.SwrApi(self.api_url, principal.ak, principal.sk, session=self.session,
                              timeout=(5, self.timeout), retries=retries)
        return api.DockyardClient(self.dockyard_url, principal.access_id, principal.password,
                                  session=self.session, timeout=(5, self.timeout), retries=retries)

    def ensure(self, principal: Principal, org: str) -> None:
        """Raises OrganizationError when the organization cannot be had."""
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
        try:
            self.client(principal).ensure_organization(org)
        except (api.SwrUnreachable, api.SwrHTTPError) as exc:
            raise refusal(org, exc) from None


def refusal(org: str, exc: api.SwrError) -> OrganizationError:
    """SWR's refusal (or failure) to create `org`, worded once for the endpoint and the sync."""
    if isinstance(exc, api.SwrNameInvalid):
        return OrganizationError("NAME_INVALID", f"SWR refused organization {org!r}: {exc.message}", 400)
    if isinstance(exc, api.SwrQuotaExceeded):
        return OrganizationError("DENIED", f"cannot create organization {org!r}: {exc.message}", 403)
    if isinstance(exc, api.SwrAuthError):
        return OrganizationError("DENIED", f"SWR refused to create organization {org!r}: {exc.message}", 403)
    if isinstance(exc, api.SwrUnreachable):
        kind = "timeout" if exc.kind == "timeout" else "unreachable"
        code = "UPSTREAM_TIMEOUT" if kind == "timeout" else "UPSTREAM_UNREACHABLE"
        return OrganizationError(code, "SWR management API is unreachable", 504 if kind == "timeout" else 502, kind)
    if exc.status >= 500:
        return OrganizationError("UPSTREAM_ERROR", f"cannot create organization {org!r}: {exc.message}", 502,
                                 "http_5xx")
    return OrganizationError("DENIED", f"cannot create organization {org!r}: {exc.message}", 403)
