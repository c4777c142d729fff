"""Clients that stop reading a response: a pull of a large blob whose reader stalls (`swr-bridge serve`, loopback).

Without a minimum rate on responses such a client held its thread, and the SWR download behind it, for
as long as it kept the socket open. The endpoint here has 4 threads and a rate window of 3 s (the
default is 60 s), so the test sees the cut quickly; the parked-seat bound is the default (2 x threads).
"""

import hashlib
import os
import socket
import time

import pytest
import requests

from tests.integration.endpoint import Endpoint
from tests.integration.hostile.test_hostile_server import REPO, healthz_seconds, token, upload_path

THREADS, STALLED, WINDOW = 4, 8, 3
SERVER_ENV = {"SWR_BRIDGE_THREADS": str(THREADS), "SWR_BRIDGE_BODY_RATE_WINDOW": str(WINDOW)}
BLOB = os.urandom(16 << 20)  # well past what the loopback's socket buffers hold
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


@pytest.fixture(scope="module")
def ep(sbx, tmp_path_factory):
    with Endpoint(tmp_path_factory.mktemp("ep"), sbx, workers=1, env=SERVER_ENV) as endpoint:
        auth = token(endpoint, sbx.tenants[0])
        resp = requests.put(endpoint.url + upload_path(endpoint, auth), data=BLOB, headers=auth, timeout=60,
                            params={"digest": DIGEST})
        assert resp.status_code == 201, resp.text
        yield endpoint


def stalled_pull(ep, authorization: str) -> socket.socket:
    """A GET of the blob that reads nothing after sending its request; a small receive buffer."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect(("127.0.0.1", ep.port))
    conn.sendall(f"GET /v2/{REPO}/blobs/{DIGEST} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n\r\n"
                 .encode())
    return conn


def received_until_closed(conn, timeout: float) -> int:
    """Drains what the endpoint sent until it closed the connection; raises if it stays open that long."""
    conn.settimeout(timeout)
    total = 0
    try:
        while chunk := conn.recv(1 << 16):
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


def test_clients_that_stop_reading_are_cut_within_the_window_and_hold_no_seat(ep, sbx):
    auth = token(ep, sbx.tenants[0])
    conns = [stalled_pull(ep, auth["Authorization"]) for _ in range(STALLED)]
    try:
        time.sleep(1.0)  # every pull has begun its response and filled the socket buffers
        assert healthz_seconds(ep) < 1.0  # twice the threads are stalled, each parked off its seat
        started = time.monotonic()
        time.sleep(WINDOW + 2)
        got = [received_until_closed(conn, 5) for conn in conns]  # raises socket.timeout if one is open
        assert all(0 < n < len(BLOB) for n in got), got
        assert time.monotonic() - started < WINDOW + 10
    finally:
        for conn in conns:
            conn.close()
    cut = [line for line in ep.log_text().splitlines() if "response taken slower than 1024 B/s over 3 s" in line]
    assert len(cut) == STALLED, ep.log_text()[-3000:]
    assert auth["Authorization"].split()[1] not in ep.log_text()  # the bearer token is never logged


def test_a_reader_at_full_speed_gets_the_whole_blob(ep, sbx):
    resp = requests.get(f"{ep.url}/v2/{REPO}/blobs/{DIGEST}", headers=token(ep, sbx.tenants[0]), timeout=60)
    assert resp.status_code == 200 and hashlib.sha256(resp.content).hexdigest() == DIGEST.split(":")[1]
