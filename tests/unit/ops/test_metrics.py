"""/metrics in one process: every family the issue names, and the places that feed them."""

import re

import pytest
import requests
import sqlalchemy as sa
from prometheus_client import REGISTRY

from adapter import create_app, metrics
from adapter.config import load_data
from adapter.registry.errors import RegistryError
from adapter.registry.upstream import Upstream
from adapter.swr.principal import Principal
from adapter.webhooks.dispatcher import Dispatcher
from adapter.webhooks.sinks import Outcome
from adapter.webhooks.store import alerts, deliveries
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import SECRET_ENV, WEBHOOK_TOKEN, post, webhooks_config

# As the text exposition names them (counters carry _total).
FAMILIES = {
    "swr_bridge_relayed_bytes_total": "counter",
    "swr_bridge_request_duration_seconds": "histogram",
    "swr_bridge_upstream_errors_total": "counter",
    "swr_bridge_token_cache_requests_total": "counter",
    "swr_bridge_throttle_wait_seconds_total": "counter",
    "swr_bridge_webhook_events_total": "counter",
    "swr_bridge_webhook_deliveries_total": "counter",
    "swr_bridge_webhook_outbox_depth": "gauge",
    "swr_bridge_webhook_rows_pruned_total": "counter",
}


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def bridge_app(tmp_path, monkeypatch):
    for name, secret in SECRET_ENV.items():
        monkeypatch.setenv(name, secret)
    app = create_app({"webhooks": webhooks_config(f"sqlite:///{tmp_path}/events.db")})
    app.config["TESTING"] = True
    yield app
    app.extensions["webhooks"].close()


def _alert_delivered_to(app, key: str, attempts: int, **states: int) -> None:
    """One alert created at time 0, with that many deliveries (one sink each) in each state."""
    sinks = [state for state, count in states.items() for _ in range(count)]
    with app.extensions["webhooks"].store.write() as conn:
        alert_id = conn.execute(alerts.insert().values(
            alert_key=key, kind="execution", route="r", status="failed", title="t", text="x", data="{}",
            created_at=0.0)).inserted_primary_key[0]
        conn.execute(deliveries.insert(), [
            {"alert_id": alert_id, "sink": f"sink{n}", "state": state, "attempts": attempts, "next_attempt_at": 0.0,
             "created_at": 0.0, "updated_at": 0.0} for n, state in enumerate(sinks)])


def test_every_family_is_exported_with_its_type(bridge_app):
    text = bridge_app.test_client().get("/metrics").get_data(as_text=True)
    for name, kind in FAMILIES.items():
        assert f"# TYPE {name} {kind}" in text, name
    assert 'swr_bridge_webhook_outbox_depth{state="pending"} 0.0' in text


def test_outbox_depth_counts_pending_and_dead_rows(bridge_app):
    _alert_delivered_to(bridge_app, "k", attempts=0, pending=2, dead=1, delivered=1)
    text = bridge_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'swr_bridge_webhook_outbox_depth{state="pending"} 2.0' in text
    assert 'swr_bridge_webhook_outbox_depth{state="dead"} 1.0' in text


def test_retention_counts_the_rows_it_prunes(bridge_app):
    _alert_delivered_to(bridge_app, "old", attempts=1, dead=1, delivered=1, pending=1)
    before = value("swr_bridge_webhook_rows_pruned_total", table="deliveries")
    bridge_app.extensions["webhooks"].retention.run(40 * 86400.0, force=True)
    assert value("swr_bridge_webhook_rows_pruned_total", table="deliveries") == before + 2  # pending ones stay
    text = bridge_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'swr_bridge_webhook_rows_pruned_total{table="deliveries"}' in text


def test_no_outbox_gauge_without_the_bridge():
    text = create_app({}).test_client().get("/metrics").get_data(as_text=True)
    assert "swr_bridge_webhook_outbox_depth" not in text
    assert "# TYPE swr_bridge_relayed_bytes_total counter" in text


def test_request_durations_by_route_method_and_status_class():
    client = create_app({}).test_client()
    labels = {"route": "/healthz", "method": "GET", "status": "2xx"}
    before = value("swr_bridge_request_duration_seconds_count", **labels)
    client.get("/healthz").close()  # observed when the body is done: at close
    client.get("/healthz").close()
    assert value("swr_bridge_request_duration_seconds_count", **labels) == before + 2
    missing = {"route": "unmatched", "method": "GET", "status": "4xx"}
    before = value("swr_bridge_request_duration_seconds_count", **missing)
    client.get("/nothing-here").close()
    assert value("swr_bridge_request_duration_seconds_count", **missing) == before + 1


def test_a_method_a_client_made_up_is_one_other_series_however_many_it_sends():
    labels = {"route": "/healthz", "method": "other", "status": "4xx"}
    before = value("swr_bridge_request_duration_seconds_count", **labels)
    for method in ("BREW", "WHEN", "X-1"):
        metrics.observe("/healthz", method, 405, 0.0)
    assert value("swr_bridge_request_duration_seconds_count", **labels) == before + 3
    assert not [key for key in metrics._durations if key[1] not in metrics.METHODS | {"other"}]


def test_registry_requests_are_labelled_by_handler(monkeypatch):
    monkeypatch.setenv("SWR_BRIDGE_KEY", "metrics-test-instance-key-0123456789")
    config = load_data({"swr": {"registry": "http://127.0.0.1:9", "api": "http://127.0.0.1:9"}})
    client = create_app(config).test_client()
    labels = {"route": "blobs.upload", "method": "PATCH", "status": "4xx"}
    before = value("swr_bridge_request_duration_seconds_count", **labels)
    client.patch("/v2/org/app/blobs/uploads/sometoken", data=b"x").close()
    assert value("swr_bridge_request_duration_seconds_count", **labels) == before + 1


def test_counting_adds_the_bytes_then_throttles():
    seen = []
    labels = {"organization": "metrics-org", "direction": "pull"}
    before = value("swr_bridge_relayed_bytes_total", **labels)
    count = metrics.counting("metrics-org", "pull", seen.append)
    count(1000)
    count(24)
    assert value("swr_bridge_relayed_bytes_total", **labels) == before + 1024
    assert seen == [1000, 24]
    unthrottled = metrics.counting("metrics-org", "pull")
    unthrottled(1)
    assert value("swr_bridge_relayed_bytes_total", **labels) == before + 1025


def test_throttle_waits_are_recorded_by_the_endpoints_hook(tmp_path):
    from adapter.throttle import BURST, QUANTUM, BandwidthSchema, Budget, SharedClock

    before = value("swr_bridge_throttle_wait_seconds_total", limit="instance")
    budget = Budget(BandwidthSchema().load({"limit": "8MiB/s"}), SharedClock(str(tmp_path / "b")),
                    on_wait=metrics.throttle_wait)
    budget.meter("org")(4 * 1024 * 1024)
    waited = value("swr_bridge_throttle_wait_seconds_total", limit="instance") - before
    # Each sleep is the booked start minus now, so the time spent booking comes off the total.
    longest = (4 * 1024 * 1024 - QUANTUM) / (8 * 1024 * 1024)  # no catch-up at all
    assert longest - BURST - 0.05 < waited <= longest


class FakeSession:
    def __init__(self, outcome):
        self.outcome = outcome

    def request(self, *args, **kwargs):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def response(status: int) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    return resp


@pytest.mark.parametrize("outcome, kind, code", [
    (requests.ConnectTimeout(), "timeout", "UPSTREAM_TIMEOUT"),
    (requests.ConnectionError(), "unreachable", "UPSTREAM_UNREACHABLE"),
    (requests.TooManyRedirects(), "protocol", "UPSTREAM_ERROR"),
])
def test_upstream_failures_are_counted_by_kind(outcome, kind, code):
    upstream = Upstream("http://swr.test", set(), FakeSession(outcome))
    before = value("swr_bridge_upstream_errors_total", target="registry", kind=kind)
    with pytest.raises(RegistryError) as info:
        upstream._send("GET", "http://swr.test/v2/", headers={})
    assert info.value.code == code
    assert value("swr_bridge_upstream_errors_total", target="registry", kind=kind) == before + 1


def test_upstream_5xx_answers_are_counted_and_4xx_are_not():
    before = value("swr_bridge_upstream_errors_total", target="registry", kind="http_5xx")
    Upstream("http://swr.test", set(), FakeSession(response(503)))._send("GET", "http://swr.test/", headers={})
    Upstream("http://swr.test", set(), FakeSession(response(404)))._send("GET", "http://swr.test/", headers={})
    assert value("swr_bridge_upstream_errors_total", target="registry", kind="http_5xx") == before + 1


def test_token_cache_hits_and_misses():
    class TokenSession:
        def request(self, method, url, **kwargs):
            resp = response(401 if url.endswith("/v2/") else 200)
            resp.headers["WWW-Authenticate"] = 'Bearer realm="http://swr.test/token",service="dockyard"'
            resp._content = b'{"token": "t", "expires_in": 300}'
            return resp

    upstream = Upstream("http://swr.test", set(), TokenSession())
    principal = Principal("eu-de@AKEXAMPLE0000000001", "secret")
    hits, misses = value("swr_bridge_token_cache_requests_total", result="hit"), \
        value("swr_bridge_token_cache_requests_total", result="miss")
    for _ in range(3):
        assert upstream.token(principal, ["repository:o/a:pull"]) == "t"
    assert value("swr_bridge_token_cache_requests_total", result="miss") == misses + 1
    assert value("swr_bridge_token_cache_requests_total", result="hit") == hits + 2


def test_webhook_intake_outcomes_and_event_status(bridge_app):
    client = bridge_app.test_client()

    def events(outcome, status=""):
        return value("swr_bridge_webhook_events_total", outcome=outcome, status=status)

    before = {k: events(*k) for k in [("accepted", "failed"), ("duplicate", "failed"), ("unauthorized",),
                                      ("invalid",)]}
    doc = payloads.default("Error")
    assert post(client, doc).status_code == 200
    assert post(client, doc).get_json()["status"] == "duplicate"
    assert post(client, doc, token="wrong").status_code == 401
    assert post(client, b"{not json").status_code == 400
    assert events("accepted", "failed") == before[("accepted", "failed")] + 1
    assert events("duplicate", "failed") == before[("duplicate", "failed")] + 1
    assert events("unauthorized") == before[("unauthorized",)] + 1
    assert events("invalid") == before[("invalid",)] + 1
    assert WEBHOOK_TOKEN not in client.get("/metrics").get_data(as_text=True)


def test_deliveries_by_sink_and_outcome():
    class Grouper:
        def finalize_due(self, now):
            return 0

    class Outbox:
        def claim(self, owner, now, limit):
            return [{"id": i, "sink": sink, "alert_key": "k", "kind": "execution", "route": "r",
                     "status": "failed", "title": "t", "text": "x", "data": "{}", "alert_created_at": 0.0,
                     "attempts": 1} for i, sink in enumerate(["ok-sink", "bad-sink", "bad-sink"])]

        def delivered(self, *args):
            pass

        def failed(self, row, *args):
            return "dead" if row["id"] == 2 else "pending"

    class Sink:
        def __init__(self, ok):
            self.ok = ok

        def deliver(self, alert):
            return Outcome(self.ok, 200 if self.ok else 500, "" if self.ok else "boom")

    names = [("ok-sink", "delivered"), ("bad-sink", "retry"), ("bad-sink", "dead")]
    before = [value("swr_bridge_webhook_deliveries_total", sink=s, outcome=o) for s, o in names]
    dispatcher = Dispatcher(Grouper(), Outbox(), {"ok-sink": Sink(True), "bad-sink": Sink(False)})
    assert dispatcher.run_once(0.0) == {"finalized": 0, "delivered": 1, "retry": 1, "dead": 1}
    after = [value("swr_bridge_webhook_deliveries_total", sink=s, outcome=o) for s, o in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


def test_metrics_refuse_a_multiprocess_dir_set_after_import(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="imported before PROMETHEUS_MULTIPROC_DIR"):
        create_app({})


def test_metric_names_follow_prometheus_conventions():
    for name in FAMILIES:
        assert re.fullmatch(r"swr_bridge_[a-z_]+", name)
    assert sa  # the outbox query is SQLAlchemy Core; imported here so a missing dependency fails loudly


def test_the_content_type_names_its_charset_once(bridge_app):
    content_type = bridge_app.test_client().get("/metrics").headers["Content-Type"]
    assert content_type.startswith("text/plain; version=") and content_type.count("charset=") == 1, content_type


def test_refused_logins_are_counted(monkeypatch):
    """What the LoginRefusalsSpiking alert (deploy/monitoring) watches."""
    from adapter.registry.auth import Authenticator
    from adapter.registry.tokens import TokenBox

    monkeypatch.setenv("PINNED_SK", "pinned-secret-key-0123456789abcdef")
    monkeypatch.setenv("HARBOR_CLIENT_PW", "right-password")
    config = load_data({"credentials": {"mode": "pinned", "pinned": {
        "access_id": "eu-de@AKPINNED0123456789", "secret_key_env": "PINNED_SK",
        "clients": [{"username": "harbor", "password_env": "HARBOR_CLIENT_PW"}]}}})
    auth = Authenticator(config, TokenBox("metrics-test-instance-key-0123456789"), login=lambda _p: False)
    before = value("swr_bridge_login_refused_total", reason="wrong")
    with pytest.raises(RegistryError):
        auth.check_basic("harbor", "wrong-password")
    auth.check_basic("harbor", "right-password")
    assert value("swr_bridge_login_refused_total", reason="wrong") == before + 1
    passthrough = Authenticator(load_data({}), TokenBox("metrics-test-instance-key-0123456789"), login=lambda _p: False)
    with pytest.raises(RegistryError):
        passthrough.check_basic("eu-de@AKPINNED0123456789", "a" * 64)
    assert value("swr_bridge_login_refused_total", reason="wrong") == before + 2
