"""Makes sure an SWR organization exists before the first write into it, and remembers that it does."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from adapter.swr import api
from adapter.swr.principal import Principal

# The API gateway's "Incorrect IAM authentication information" (swr.md §2.2): a wrong SK, a skewed clock.
SIGNATURE_CODES = frozenset({"APIGW.0301"})


class OrganizationError(api.SwrError):
    """SWR refused, or failed, to create an organization; `code` and `status` say it the OCI way,
    `upstream` names SWR's own failure ("timeout", "unreachable", "http_5xx") when there was one, and
    `transient` whether trying again may help (a 5xx may pass; a host name that does not resolve does not)."""

    def __init__(self, code: str, message: str, status: int, upstream: str | None = None,
                 transient: bool | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.upstream = code, message, status, upstream
        self.transient = status >= 500 if transient is None else transient


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
            raise refusal(org, exc, self.config_keys[0 if principal.sk else 1]) from None


def refusal(org: str, exc: api.SwrError, config_key: str = "the config") -> OrganizationError:
    """SWR's refusal (or failure) to create `org`, worded once for the endpoint and the sync; `config_key`
    names where the URL that was called is set."""
    if isinstance(exc, api.SwrNameInvalid):
        return OrganizationError("NAME_INVALID", f"SWR refused organization {org!r}: {exc.message}", 400)
    if isinstance(exc, api.SwrQuotaExceeded):
        return OrganizationError("DENIED", f"cannot create organization {org!r}: {exc.message}", 403)
    if isinstance(exc, api.SwrAuthError) and (exc.code or "").upper() in SIGNATURE_CODES:
        # The gateway refuses before SWR sees the request: the organization is not what failed.
        return OrganizationError("DENIED", f"SWR refused the request's AK/SK signature ({exc.code}: {exc.message}); "
                                 "the secret key does not belong to the access key", 403)
    if isinstance(exc, api.SwrAuthError):
        return OrganizationError("DENIED", f"SWR refused to create organization {org!r}: {exc.message}", 403)
    if isinstance(exc, api.SwrUnreachable) and exc.kind == "dns":
        host = urlsplit(exc.url).hostname
        return OrganizationError("UPSTREAM_UNREACHABLE", f"cannot create organization {org!r}: the host name {host} "
                                 f"does not resolve (not retried); it comes from {config_key}", 502, "unreachable",
                                 transient=False)
    if isinstance(exc, api.SwrUnreachable):
        kind = "timeout" if exc.kind == "timeout" else "unreachable"
        code = "UPSTREAM_TIMEOUT" if kind == "timeout" else "UPSTREAM_UNREACHABLE"
        return OrganizationError(code, "SWR management API is unreachable", 504 if kind == "timeout" else 502, kind)
    if exc.status >= 500:
        return OrganizationError("UPSTREAM_ERROR", f"cannot create organization {org!r}: {exc.message}", 502,
                                 "http_5xx")
    return OrganizationError("DENIED", f"cannot create organization {org!r}: {exc.message}", 403)
