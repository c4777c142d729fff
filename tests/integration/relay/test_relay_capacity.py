"""The shipped defaults hold 32 concurrent blob uploads per replica, with room left for /healthz and /metrics."""

import threading
import time

import requests

from adapter.gunicorn_conf import settings
from tests.held import HeldPatch, wait_for
from tests.integration.endpoint import Endpoint
from tests.integration.relay.conftest import INSTANCE_KEY
from tests.integration.relay.test_relay_upload_seats import push_token, start_upload

UPLOADS = 32  # 16 for each of two tenants: SWR takes at most 20 layers of one tenant at once


class PatchArrivals:
    """Wraps the sandbox registry address's app: counts the upload PATCHes that reached it."""

    def __init__(self, app):
        self.app, self.count, self.lock = app, 0, threading.Lock()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "PATCH" and "/blobs/uploads/" in environ.get("PATH_INFO", ""):
            with self.lock:
                self.count += 1
        return self.app(environ, start_response)


def test_shipped_defaults_hold_32_uploads_while_healthz_answers(sbx, org, tmp_path, monkeypatch):
    arrivals = PatchArrivals(sbx._front_server.app)
    monkeypatch.setattr(sbx._front_server, "app", arrivals)
    monkeypatch.delenv("SWR_BRIDGE_THREADS", raising=False)
    sbx.create_organization(sbx.tenants[1], f"{org}-b")
    workers = settings("127.0.0.1:0")["workers"]  # the shipped default, as `serve` starts it
    with Endpoint(tmp_path, sbx, workers=workers, instance_key=INSTANCE_KEY) as ep:
        held = []
        try:
            for tenant, name in zip(sbx.tenants, (f"{org}/capacity", f"{org}-b/capacity"), strict=True):
                token = push_token(ep, tenant, name)
                held += [HeldPatch(ep.url, start_upload(ep, token, name), token) for _ in range(UPLOADS // 2)]
            # Every upload is relaying at once: each reached SWR with its body still open.
            assert wait_for(lambda: arrivals.count == UPLOADS), f"only {arrivals.count} of {UPLOADS} got a thread"
            # ... and the endpoint still answers its probes and its metrics meanwhile.
            started = time.monotonic()
            assert requests.get(f"{ep.url}/healthz", timeout=5).status_code == 200
            assert requests.get(f"{ep.url}/metrics", timeout=5).status_code == 200
            assert time.monotonic() - started < 5
            statuses = [h.finish() for h in held]
        finally:
            for h in held:
                h.close()
        assert ep.metric("swr_bridge_upload_seat_waits_total", result="seated") == 0  # none had to wait
    assert statuses == ["HTTP/1.1 202 ACCEPTED"] * UPLOADS
