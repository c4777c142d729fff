"""Prometheus metrics: the definitions, the tiny API other modules call, and the /metrics view.

Under gunicorn every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR, which
`swr-bridge serve` sets up before it forks, and /metrics merges them (prometheus-client's
multiprocess mode). Without that variable (tests, a single process) the default registry is used.
The variable must be set before this module is first imported: the mode is fixed at import time.

Calls other modules make:
    metrics.WEBHOOK_EVENTS.labels(outcome="accepted", status="failed").inc()
    metrics.DELIVERIES.labels(sink="slack", outcome="delivered").inc()
    metrics.UPSTREAM_ERRORS.labels(target="registry", kind="timeout").inc()
    metrics.token_cache(hit=True)
    metrics.counting(org, "push", throttle)  ->  a throttle(n) that also counts the bytes
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily

PREFIX = "swr_bridge"
# Relay requests range from milliseconds (HEAD) to the better part of an hour (a 10 GB layer).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

BYTES = Counter(f"{PREFIX}_relayed_bytes", "Blob bytes relayed, by SWR organization and direction "
                "(push: Harbor to SWR, pull: SWR to the client).", ["organization", "direction"])
REQUESTS = Histogram(f"{PREFIX}_request_duration_seconds", "Request durations until the last byte was sent, "
                     "by route, method and status class (2xx..5xx).", ["route", "method", "status"],
                     buckets=DURATION_BUCKETS)
UPSTREAM_ERRORS = Counter(f"{PREFIX}_upstream_errors", "Failed calls to SWR, by target (registry, api) and kind "
                          "(timeout, unreachable, protocol, http_5xx).", ["target", "kind"])
TOKEN_CACHE = Counter(f"{PREFIX}_token_cache_requests", "SWR registry token look-ups, by result (hit, miss).",
                      ["result"])
THROTTLE_WAIT = Counter(f"{PREFIX}_throttle_wait_seconds", "Seconds transfers spent waiting on the bandwidth "
                        "budget, by the limit that held them (instance, organization).", ["limit"])
# Max over the live workers: 1 as long as one of them is on the fallback (an unset gauge reads 0).
BUDGET_FALLBACK = Gauge(f"{PREFIX}_bandwidth_budget_fallback", "1 while the fleet's Redis is unreachable and "
                        "the bandwidth budget runs on bandwidth.on_backend_error, else 0.",
                        multiprocess_mode="livemax")
BUDGET_CHANGES = Counter(f"{PREFIX}_bandwidth_budget_changes", "Changes of the bandwidth budget's backend "
                         "state, by the state entered (shared, local-share, open, closed).", ["state"])
UPLOAD_SEAT_WAITS = Counter(f"{PREFIX}_upload_seat_waits", "Layer uploads that found every SWR upload seat of "
                            "their tenant taken and waited, by result (seated, timeout: answered 503).", ["result"])
UPLOAD_SEAT_WAIT = Counter(f"{PREFIX}_upload_seat_wait_seconds", "Seconds layer uploads spent waiting for an "
                           "SWR upload seat of their tenant.")
UPLOADS_WAITING = Gauge(f"{PREFIX}_uploads_waiting_for_seat", "Layer uploads waiting for an SWR upload seat now.",
                        multiprocess_mode="livesum")
WEBHOOK_EVENTS = Counter(f"{PREFIX}_webhook_events", "Harbor webhook requests, by intake outcome (accepted, "
                         "duplicate, unauthorized, invalid, too_large, store_unavailable) and the event's "
                         "replication status (empty when there is none).", ["outcome", "status"])
DELIVERIES = Counter(f"{PREFIX}_webhook_deliveries", "Alert delivery attempts, by sink and outcome "
                     "(delivered, retry, dead).", ["sink", "outcome"])
LOGIN_REFUSED = Counter(f"{PREFIX}_login_refused", "Pass-through logins refused, by reason (wrong: SWR refused "
                        "the secret; cached: a secret SWR refused moments ago, SWR not asked; backoff: the "
                        "address failed too often; busy: too many SWR logins at once).", ["reason"])
SWR_LOGINS = Counter(f"{PREFIX}_swr_logins", "Logins the endpoint asked SWR for, by result (ok, refused).",
                     ["result"])
SWR_BLACKLISTED = Counter(f"{PREFIX}_swr_blacklisted", "Times SWR's blacklist refused an account (its calls then "
                          "fail unsent for swr.blacklist_hold seconds).")
PRUNED = Counter(f"{PREFIX}_webhook_rows_pruned", "Webhook store rows deleted by retention, by table "
                 "(events, summaries, deliveries).", ["table"])
_TOKEN_HIT, _TOKEN_MISS = TOKEN_CACHE.labels(result="hit"), TOKEN_CACHE.labels(result="miss")
_durations: dict[tuple[str, str, str], object] = {}
OUTBOX_STATES = ("pending", "dead")
# Every label value comes from a closed set: a client picks methods and paths, never a new time series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_ORGANIZATIONS = 200  # distinct organization labels per process; further ones count as "other"
_organizations: set[str] = set()


def multiprocess_dir() -> str | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


def token_cache(hit: bool) -> None:
    (_TOKEN_HIT if hit else _TOKEN_MISS).inc()


def login_refused(reason: str) -> None:
    LOGIN_REFUSED.labels(reason=reason).inc()


def organization_label(organization: str) -> str:
    """The organization itself for the first MAX_ORGANIZATIONS seen, then "other"."""
    if organization in _organizations:
        return organization
    if len(_organizations) >= MAX_ORGANIZATIONS:
        return "other"
    _organizations.add(organization)
    return organization


def throttle_wait(seconds: float, limit: str) -> None:
    """The endpoint's Budget on_wait: seconds spent waiting on the bandwidth budget."""
    THROTTLE_WAIT.labels(limit=limit).inc(seconds)


def upload_seat_wait(result: str, seconds: float) -> None:
    """One wait for an SWR upload seat: seated or timeout, after `seconds`."""
    UPLOAD_SEAT_WAITS.labels(result=result).inc()
    UPLOAD_SEAT_WAIT.inc(seconds)


def budget_state(state: str) -> None:
    """The fleet budget's on_change: which backend the bookings go to now."""
    BUDGET_FALLBACK.set(0 if state == "shared" else 1)
    BUDGET_CHANGES.labels(state=state).inc()


def counting(organization: str, direction: str, throttle=None):
    """A `throttle(n)` for one transfer that counts its bytes, then applies `throttle` if there is one."""
    child = BYTES.labels(organization=organization_label(organization), direction=direction)
    if throttle is None:
        return child.inc

    def count_and_throttle(nbytes: int) -> None:
        child.inc(nbytes)
        throttle(nbytes)
    return count_and_throttle


class OutboxDepth:
    """Collects the webhook outbox depth from the store at scrape time (one query, any worker)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        bridge = self.app.extensions.get("webhooks")
        if bridge is None:
            return
        import sqlalchemy as sa

        from adapter.webhooks.store import deliveries

        family = GaugeMetricFamily(f"{PREFIX}_webhook_outbox_depth", "Deliveries waiting in the outbox (pending) "
                                   "or given up on (dead).", labels=["state"])
        query = (sa.select(deliveries.c.state, sa.func.count()).where(deliveries.c.state.in_(OUTBOX_STATES))
                 .group_by(deliveries.c.state))
        with bridge.store.read() as conn:
            counts = dict(conn.execute(query).all())
        for state in OUTBOX_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


def _route() -> str:
    if g.get("route"):
        return g.route
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _before() -> None:
    g.metrics_started = time.monotonic()


def observe(route: str, method: str, status: int, started: float) -> None:
    """One request's duration, from `started` (time.monotonic) until now."""
    key = (route, method if method in METHODS else "other", f"{status // 100}xx")
    child = _durations.get(key)
    if child is None:
        # labels() validates and locks on every call; its children are kept for good, so they are kept
        # here too, one per (route, method, status class): closed sets, a few hundred at most.
        child = _durations[key] = REQUESTS.labels(*key)
    child.observe(time.monotonic() - started)


def _after(resp: Response) -> Response:
    started = g.get("metrics_started", time.monotonic())
    route, method, status = _route(), request.method, resp.status_code
    # Streamed bodies (blob pulls) end after this hook: time them when the response is closed.
    resp.call_on_close(lambda: observe(route, method, status, started))
    return resp


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape():
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(OutboxDepth(current_app._get_current_object()))
    # content_type, not mimetype: the constant has its charset already, and mimetype would add another.
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _Default:
    """The process's default registry, re-exported next to the scrape-time collectors."""

    def collect(self):
        return REGISTRY.collect()


def check_mode() -> None:
    """Refuses to run half-configured: PROMETHEUS_MULTIPROC_DIR set after the metrics were created."""
    multi = multiprocess_dir() is not None
    if multi != (values.ValueClass is not values.MutexValue):
        raise RuntimeError("adapter.metrics was imported before PROMETHEUS_MULTIPROC_DIR was set "
                           "(or the directory is gone); metrics would be lost")


def init_app(app: Flask) -> None:
    check_mode()
    app.before_request(_before)
    app.after_request(_after)
    app.register_blueprint(bp)
