"""The SWR registry as seen from the relay: the shared RegistryClient, Bearer only, configured hosts only.

Challenge discovery, bearer tokens per scope, the replay on 401 and the error mapping live in
adapter.transfer.client, which `swr-bridge sync` uses too; here callers are Principals, errors are
RegistryErrors and both tokens and failures are counted in the endpoint's metrics.
"""

from __future__ import annotations

import requests

from adapter import metrics
from adapter.registry.errors import RegistryError
from adapter.swr.principal import Principal
from adapter.transfer.auth import parse_challenge
from adapter.transfer.blacklist import BLACKLIST_SECONDS
from adapter.transfer.client import RegistryClient

__all__ = ["Upstream", "parse_challenge"]


class Upstream(RegistryClient):
    """One per app: holds the session, the cached challenge and the token cache (all process-local)."""

    error_class = RegistryError

    def __init__(self, registry_url: str, allowed_hosts: set[str], session: requests.Session,
                 timeout: float = 30.0, verify=True, blacklist_hold: float = BLACKLIST_SECONDS):
        super().__init__(registry_url, session, name="SWR", timeout=timeout, verify=verify,
                         allowed_hosts=allowed_hosts, bearer_only=True, blacklist_hold=blacklist_hold)

    def creds_of(self, principal: Principal) -> tuple[str, str]:
        return principal.access_id, principal.password

    def login(self, principal: Principal) -> bool:
        ok = super().login(principal)
        metrics.SWR_LOGINS.labels(result="ok" if ok else "refused").inc()
        return ok

    def on_token(self, hit: bool) -> None:
        metrics.token_cache(hit=hit)

    def on_blacklist(self, user: str, held: bool) -> None:
        if held:
            metrics.SWR_BLACKLISTED.inc()
        super().on_blacklist(user, held)

    def on_error(self, kind: str) -> None:
        metrics.UPSTREAM_ERRORS.labels(target="registry", kind=kind).inc()
