"""The registry surface's per-app state: upstream, authenticator, mapping, organizations, upload tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from flask import current_app, g

from adapter import metrics
from adapter.config import BridgeConfig, swr_endpoints
from adapter.registry.auth import Authenticator, Grant
from adapter.registry.errors import RegistryError
from adapter.registry.tokens import TokenBox, instance_key_from_env
from adapter.registry.upstream import Upstream
from adapter.swr.mapping import map_repository
from adapter.swr.naming import NamingError, check_destination
from adapter.swr.organizations import OrganizationError, Organizations
from adapter.throttle import Budget, SharedClock, fleet_clock
from adapter.upload_seats import upload_seats

EXTENSION = "swr-bridge.registry"
POOL_HEADROOM = 4  # connections beyond one per thread: token and organization calls next to the uploads


class RegistryService:
    def __init__(self, config: BridgeConfig, session: requests.Session | None = None, *,
                 budget_file: str | None = None, instance_key: str | None = None, login_file: str | None = None,
                 seats_file: str | None = None):
        self.config = config
        registry, api = swr_endpoints(config)
        swr = config.swr
        dockyard = (swr.dockyard or registry).rstrip("/")
        self.session = session or _pooled_session()
        self.session.trust_env = False  # proxies from env must not redirect SWR traffic
        hosts = {urlsplit(u).netloc for u in (registry, api, dockyard)}
        self.upstream = Upstream(registry, hosts, self.session, swr.timeout, swr.verify,
                                 blacklist_hold=swr.blacklist_hold)
        self.box = TokenBox(instance_key or instance_key_from_env(config.instance_key_env))
        self.auth = Authenticator(config, self.box, self.upstream.login, login_file)
        self.orgs = _Organizations(api, dockyard, self.session, swr.timeout, config.organizations.auto_create)
        self.rules = config.mapping
        clock = fleet_clock(config.bandwidth, SharedClock(budget_file), metrics.budget_state)
        self.budget = Budget(config.bandwidth, clock, on_wait=metrics.throttle_wait)
        # SWR's "at most 20 layers pushed at once" per tenant, held by every worker of this replica together
        # (and by the whole fleet, when it shares a Redis).
        self.upload_seats = upload_seats(swr.max_concurrent_layers, seats_file, config.bandwidth)

    def map_name(self, name: str) -> str:
        """Client repository name -> SWR repository name, checked against SWR's naming rules."""
        try:
            dest = map_repository(self.rules, name)
            check_destination(dest)
        except NamingError as exc:
            raise RegistryError("NAME_INVALID", str(exc), detail={"name": name}) from None
        except ValueError as exc:
            raise RegistryError("NAME_INVALID", str(exc), detail={"name": name}) from None
        return dest

    def meter(self, dest: str, direction: str = "push"):
        """The byte counter and throttle for one transfer into (push) or out of (pull) `dest`."""
        org = dest.split("/")[0]
        return metrics.counting(org, direction, self.budget.meter(org))

    def unmap_name(self, dest: str) -> str:
        """Best-effort inverse for listings: only rules without flattening can be undone."""
        for rule in self.rules:
            prefix = rule.namespace + "/"
            if rule.flatten == 0 and dest.startswith(prefix):
                source = dest[len(prefix):]
                if map_repository(self.rules, source) == dest:
                    return source
        return dest


class _Organizations(Organizations):
    """SWR's organizations as the /v2 surface meets them: a refusal is an OCI error, SWR's failures are counted."""

    def ensure(self, principal, org: str) -> None:
        try:
            super().ensure(principal, org)
        except OrganizationError as exc:
            if exc.upstream:
                metrics.UPSTREAM_ERRORS.labels(target="api", kind=exc.upstream).inc()
            raise RegistryError(exc.code, exc.message, status=exc.status) from None


def _pooled_session() -> requests.Session:
    """A session whose pools keep a connection per worker thread: with requests' default of 10, the
    threads beyond 10 opened a fresh connection to SWR for every upload and threw it away after.

    The session and transport are the sync's (adapter/transfer/session.py): a push is about 25 calls per
    image, and once the bytes were cheap, requests' own work around each call was most of the
    endpoint's CPU."""
    from adapter.gunicorn_conf import worker_threads
    from adapter.transfer.session import pooled_session

    size = worker_threads() + POOL_HEADROOM
    return pooled_session(size, idle_per_host=size)


def service() -> RegistryService:
    return current_app.extensions[EXTENSION]


def grant() -> Grant:
    return g.registry_grant
