"""The shipped defaults hold 32 concurrent blob uploads per replica, with room left for /healthz and /metrics."""

import socket
import threading
import time

import requests

from adapter.gunicorn_conf import settings
from tests.integration.endpoint import Endpoint
from tests.integration.relay.conftest import INSTANCE_KEY
from tests.integration.relay.helpers import basic

UPLOADS = 32
SIZE = 2 * 1024 * 1024  # over the sandbox's 1 MiB read-ahead, so each PATCH reaches its app with the body open
FIRST = 256 * 1024  # past the worker's 64 KiB prefetch: each upload holds a thread from here on


class PatchArrivals:
    """Wraps the sandbox registry address's app: counts the upload PATCHes that reached it."""

    def __init__(self, app):
        self.app, self.count, self.lock = app, 0, threading.Lock()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "PATCH" and "/blobs/uploads/" in environ.get("PATH_INFO", ""):
            with self.lock:
                self.count += 1
        return self.app(environ, start_response)


def _status(sock) -> str:
    head = b""
    while b"\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    return head.split(b"\r\n")[0].decode().upper()


def test_shipped_defaults_hold_32_uploads_while_healthz_answers(sbx, org, tenant, tmp_path, monkeypatch):
    arrivals = PatchArrivals(sbx._front_server.app)
    monkeypatch.setattr(sbx._front_server, "app", arrivals)
    monkeypatch.delenv("SWR_BRIDGE_THREADS", raising=False)
    workers = settings("127.0.0.1:0")["workers"]  # the shipped default, as `serve` starts it
    with Endpoint(tmp_path, sbx, workers=workers, instance_key=INSTANCE_KEY) as ep:
        name = f"{org}/capacity"
        token = requests.get(f"{ep.url}/auth/token?service=swr-bridge&scope=repository:{name}:pull,push",
                             headers=basic(tenant), timeout=10).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        locations = []
        for _ in range(UPLOADS):
            resp = requests.post(f"{ep.url}/v2/{name}/blobs/uploads/", headers=auth, timeout=10)
            assert resp.status_code == 202, resp.text
            locations.append(resp.headers["Location"])
        body = bytes(SIZE)
        socks = []
        try:
            for location in locations:
                sock = socket.create_connection(("127.0.0.1", ep.port), timeout=30)
                socks.append(sock)
                sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1:{ep.port}\r\n"
                             f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
                             f"Content-Length: {SIZE}\r\n\r\n".encode() + body[:FIRST])
            # Every upload is relaying at once: each reached SWR with its body still open.
            deadline = time.monotonic() + 30
            while arrivals.count < UPLOADS and time.monotonic() < deadline:
                time.sleep(0.05)
            assert arrivals.count == UPLOADS, f"only {arrivals.count} of {UPLOADS} uploads got a thread"
            # ... and the endpoint still answers its probes and its metrics meanwhile.
            started = time.monotonic()
            assert requests.get(f"{ep.url}/healthz", timeout=5).status_code == 200
            assert requests.get(f"{ep.url}/metrics", timeout=5).status_code == 200
            assert time.monotonic() - started < 5
            for sock in socks:
                sock.sendall(body[FIRST:])
            statuses = [_status(sock) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
    assert statuses == ["HTTP/1.1 202 ACCEPTED"] * UPLOADS
