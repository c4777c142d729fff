"""/healthz, /readyz (SWR registry and API reachable, store writable, cached) and the container probe."""

import contextlib
from http.server import BaseHTTPRequestHandler

import pytest
import sqlalchemy as sa

from adapter import create_app, health
from adapter.config import load_data
from adapter.sandbox.registry import free_port
from tests.fixtures import local_http
from tests.unit.webhooks.helpers import SECRET_ENV, webhooks_config


class Upstream:
    """A tiny HTTP server answering every GET with `status`, counting the hits."""

    def __init__(self, status: int = 401):
        self.status, self.hits = status, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.handler = Handler


@pytest.fixture
def upstreams():
    with contextlib.ExitStack() as stack:
        def make(status=401):
            upstream = Upstream(status)
            upstream.url = stack.enter_context(local_http(upstream.handler)).url
            return upstream
        yield make


def app_for(registry: str, api: str, **extra):
    app = create_app(load_data({"swr": {"registry": registry, "api": api}, **extra}))
    app.config["TESTING"] = True
    return app


def test_healthz_is_always_ok():
    resp = create_app({}).test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_ready_when_registry_and_api_answer(upstreams):
    registry, api = upstreams(401), upstreams(404)  # unauthenticated answers still prove the path
    resp = app_for(registry.url, api.url).test_client().get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready", "checks": {"swr_registry": {"ok": True},
                                                             "swr_api": {"ok": True}}}
    assert registry.hits == 1 and api.hits == 1


def test_unready_when_the_registry_is_down(upstreams):
    api = upstreams()
    resp = app_for(f"http://127.0.0.1:{free_port()}", api.url).test_client().get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unready"
    assert body["checks"]["swr_registry"]["ok"] is False
    assert "unreachable" in body["checks"]["swr_registry"]["error"]
    assert body["checks"]["swr_api"] == {"ok": True}


def test_unready_when_the_api_fails(upstreams):
    resp = app_for(upstreams().url, upstreams(502).url).test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["swr_api"] == {"ok": False, "error": "answered 502"}


def test_the_verdict_is_cached(upstreams):
    registry, api = upstreams(), upstreams()
    app = app_for(registry.url, api.url)
    now = [100.0]
    readiness = health.Readiness(app, ttl=5.0, clock=lambda: now[0])
    app.extensions["swr-bridge.readiness"] = readiness
    client = app.test_client()
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert registry.hits == 1
    registry.status = 500
    now[0] += 4.9
    assert client.get("/readyz").status_code == 200  # still the cached verdict
    now[0] += 0.2
    assert client.get("/readyz").status_code == 503
    assert registry.hits == 2


def test_the_webhook_store_must_take_a_write(upstreams, tmp_path, monkeypatch):
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    app = app_for(upstreams().url, upstreams().url,
                  webhooks=webhooks_config(f"sqlite:///{tmp_path}/events.db"))
    try:
        resp = app.test_client().get("/readyz")
        assert resp.status_code == 200
        assert resp.get_json()["checks"]["webhook_store"] == {"ok": True}

        class Broken:
            def write(self):
                raise sa.exc.OperationalError("UPDATE", {}, Exception("read-only"))

        assert health.Readiness._writable(Broken()) == {"ok": False,
                                                        "error": "store not writable (OperationalError)"}
    finally:
        app.extensions["webhooks"].close()


def test_readyz_without_a_store_has_no_store_check(upstreams):
    checks = app_for(upstreams().url, upstreams().url).test_client().get("/readyz").get_json()["checks"]
    assert "webhook_store" not in checks


def test_the_container_probe(upstreams, monkeypatch):
    ok, down = upstreams(200), upstreams(503)
    assert health.probe(ok.url + "/healthz") == 0
    assert health.probe(down.url + "/healthz") == 1
    assert health.probe(f"http://127.0.0.1:{free_port()}/healthz") == 1
    monkeypatch.setenv("SWR_BRIDGE_HEALTHCHECK_URL", ok.url + "/healthz")
    assert health.probe() == 0
    assert ok.hits == 2
