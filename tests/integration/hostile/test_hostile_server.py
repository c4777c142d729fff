"""The hostile-traffic table, rows that need the real server (`swr-bridge serve`, gunicorn, loopback only):
1 slow clients, 3 password guessing, 4 a client reset mid-upload, 12 SIGTERM; and gunicorn's JSON lines."""

import base64
import http.client
import json
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest
import requests

from adapter.registry.logins import FREE_FAILURES
from tests.integration.endpoint import Endpoint

# Small and quick, so that the rows are cheap to provoke: 4 threads, 2 s for a head, 1 KiB/s over 3 s.
SERVER_ENV = {"SWR_BRIDGE_THREADS": "4", "SWR_BRIDGE_HEADER_TIMEOUT": "2", "SWR_BRIDGE_MIN_BODY_RATE": "1024",
              "SWR_BRIDGE_BODY_RATE_WINDOW": "3"}
REPO = "hostile/app"
ATTACKER = "127.0.0.2"  # loopback too: the guesser's address is not the one of the pushes


@pytest.fixture(scope="module")
def ep(sbx, tmp_path_factory):
    with Endpoint(tmp_path_factory.mktemp("ep"), sbx, workers=1, env=SERVER_ENV) as endpoint:
        yield endpoint


def basic_header(access_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access_id}:{secret}".encode()).decode()


def token(ep, tenant, scope=f"repository:{REPO}:pull,push") -> dict:
    resp = requests.get(f"{ep.url}/auth/token", params={"service": "swr-bridge", "scope": scope},
                        headers={"Authorization": basic_header(tenant.access_id, tenant.sk)}, timeout=10)
    assert resp.status_code == 200, resp.text
    return {"Authorization": "Bearer " + resp.json()["token"]}


def upload_path(ep, auth) -> str:
    resp = requests.post(f"{ep.url}/v2/{REPO}/blobs/uploads/", headers=auth, timeout=10)
    assert resp.status_code == 202, resp.text
    return resp.headers["Location"].removeprefix(ep.url)


def metric(ep, name: str, **labels) -> float:
    text = requests.get(ep.url + "/metrics", timeout=10).text
    want = sorted(f'{k}="{v}"' for k, v in labels.items())
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match and match.group(1) == name and all(w in match.group(2).split(",") for w in want):
            total += float(match.group(3))
    return total


def healthz_seconds(ep) -> float:
    started = time.monotonic()
    assert requests.get(ep.url + "/healthz", timeout=1).status_code == 200
    return time.monotonic() - started


def access_lines(ep, path_part: str) -> list[dict]:
    lines = [json.loads(line) for line in ep.log_text().splitlines() if line.startswith("{")]
    return [entry for entry in lines if entry.get("logger") == "swr_bridge.access" and path_part in entry["path"]]


# --- row 1: slow clients ---------------------------------------------------------------------------
def test_row01_connections_that_stall_hold_no_thread(ep, sbx):
    heads = []
    for _ in range(12):  # three times the threads
        conn = socket.create_connection(("127.0.0.1", ep.port))
        conn.sendall(b"P")
        heads.append(conn)
    # Bodies that stall after their head, holding a thread each until they fall below the minimum rate.
    path = upload_path(ep, token(ep, sbx.tenants[0]))
    bodies = []
    for _ in range(2):
        conn = socket.create_connection(("127.0.0.1", ep.port))
        conn.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{token_line(ep, sbx)}Content-Length: 1000000\r\n\r\n"
                     .encode() + b"x" * 100)
        bodies.append(conn)
    for _ in range(4):
        assert healthz_seconds(ep) < 1.0
        time.sleep(0.5)
    for conn in heads:  # the head deadline (2 s) closed them
        conn.settimeout(3)
        assert conn.recv(10) == b""
    for conn in bodies:  # 100 bytes in 3 s is below 1 KiB/s: ended within the window
        conn.settimeout(6)
        answer = conn.recv(4096)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert healthz_seconds(ep) < 1.0


def test_bytes_that_are_no_request_line_are_answered_at_once(ep):
    """A TLS ClientHello (skopeo and docker probe HTTPS first) gets its 400 now, not after the head
    deadline: the probing client falls back to HTTP at once (a 10 s wait per push before)."""
    started = time.monotonic()
    conn = socket.create_connection(("127.0.0.1", ep.port))
    conn.settimeout(5)
    conn.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64)
    answer = conn.recv(4096)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert time.monotonic() - started < 1.0
    assert healthz_seconds(ep) < 1.0


def token_line(ep, sbx) -> str:
    return f"Authorization: {token(ep, sbx.tenants[0])['Authorization']}\r\n"


# --- row 3: password guessing ----------------------------------------------------------------------
def from_attacker(ep, path: str, headers: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10, source_address=(ATTACKER, 0))
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_row03_wrong_passwords_are_cached_backed_off_and_do_not_slow_the_right_one(ep, sbx):
    tenant = sbx.tenants[0]
    logins = lambda: metric(ep, "swr_bridge_swr_logins_total")  # noqa: E731
    refused = lambda: metric(ep, "swr_bridge_login_refused_total")  # noqa: E731
    before, refused_before = logins(), refused()
    wrong = {"Authorization": basic_header(tenant.access_id, "wrong-secret-0123456789abcdefghijklmn")}
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(from_attacker(ep, "/v2/", wrong)))
               for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) == {401} and len(statuses) == 100
    assert logins() - before == 1  # one SWR login for one wrong secret
    for i in range(30):  # distinct guesses: the address backs off
        guess = {"Authorization": basic_header(tenant.access_id, f"guess-{i:03d}-0123456789abcdefghijklmn")}
        statuses.append(from_attacker(ep, "/v2/", guess))
    assert 429 in statuses
    assert logins() - before <= 1 + FREE_FAILURES
    assert refused() - refused_before >= 100 + 30 - 1 - FREE_FAILURES
    started = time.monotonic()  # the right secret, from Harbor's address: not slowed
    resp = requests.get(ep.url + "/v2/", headers={"Authorization": basic_header(tenant.access_id, tenant.sk)},
                        timeout=10)
    assert resp.status_code == 200 and time.monotonic() - started < 1.0


# --- row 4: a client reset mid-upload --------------------------------------------------------------
def test_row04_a_client_reset_ends_the_upstream_request_at_once(ep, sbx):
    auth = token(ep, sbx.tenants[0])
    path = upload_path(ep, auth)
    timeouts = metric(ep, "swr_bridge_upstream_errors_total", kind="timeout")
    conn = socket.create_connection(("127.0.0.1", ep.port))
    conn.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth['Authorization']}\r\n"
                 f"Content-Length: {8 << 20}\r\n\r\n".encode() + os.urandom(1 << 20))
    time.sleep(0.5)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # RST
    patches = lambda: [e for e in access_lines(ep, "/blobs/uploads/") if e["method"] == "PATCH"]  # noqa: E731
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not patches():
        time.sleep(0.2)
    patches = patches()
    assert patches, "no access line for the reset PATCH within 10 s:\n" + ep.log_text()[-3000:]
    assert patches[-1]["status"] == 400 and patches[-1]["duration_ms"] < 5000
    assert metric(ep, "swr_bridge_upstream_errors_total", kind="timeout") == timeouts


# --- logging: gunicorn's own lines are JSON too ----------------------------------------------------
def test_every_line_of_the_server_log_is_json(ep):
    lines = [line for line in ep.log_text().splitlines() if line.strip()]
    loggers = {json.loads(line)["logger"] for line in lines}  # raises on a plain-text line
    assert "gunicorn.error" in loggers and "swr_bridge.access" in loggers


# --- row 12: SIGTERM -------------------------------------------------------------------------------
def test_row12_sigterm_refuses_new_connections_at_once_while_an_upload_finishes(sbx, tmp_path):
    endpoint = Endpoint(tmp_path, sbx, workers=1, env=SERVER_ENV).start()
    try:
        auth = token(endpoint, sbx.tenants[0])
        path = upload_path(endpoint, auth)
        result = {}

        class SlowBody:  # 640 KiB over 3 s, with a length, so that it goes as one sized PATCH
            def __len__(self):
                return 10 * (64 << 10)

            def __iter__(self):
                for _ in range(10):
                    yield b"y" * (64 << 10)
                    time.sleep(0.3)

        def upload():
            resp = requests.patch(endpoint.url + path, data=SlowBody(), headers=auth, timeout=30)
            result["status"] = resp.status_code

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(1.0)
        endpoint.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            conn = socket.create_connection(("127.0.0.1", endpoint.port), timeout=3)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.recv(100)
        assert time.monotonic() - started < 1.0
        thread.join(30)
        assert result.get("status") == 202
        endpoint.proc.wait(20)
    finally:
        endpoint.stop()
