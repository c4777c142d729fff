"""Row 1 past the first 64 KiB: bodies that stall once a thread reads them (`swr-bridge serve`, loopback).

Who can make a body stall in a thread: only a client with a valid token and an upload of its own (a
request without a token is answered 401 before its body is read, and closed). The endpoint here has 4
threads and the default rate window (60 s), so the rate check cannot be what frees them in time.
"""

import hashlib
import os
import socket
import threading
import time

import pytest
import requests

from tests.integration.endpoint import Endpoint
from tests.integration.hostile.test_hostile_server import healthz_seconds, token, upload_path

THREADS, STALLED = 4, 40
SERVER_ENV = {"SWR_BRIDGE_THREADS": str(THREADS), "SWR_BRIDGE_HEADER_TIMEOUT": "2"}
STALL_AFTER = 70 << 10  # past the 64 KiB the event loop gathers: the rest is read in a thread


@pytest.fixture(scope="module")
def ep(sbx, tmp_path_factory):
    with Endpoint(tmp_path_factory.mktemp("ep"), sbx, workers=1, env=SERVER_ENV) as endpoint:
        yield endpoint


def stalled_patch(ep, path: str, authorization: str | None) -> socket.socket:
    """A PATCH declaring 10 MB that sends its head and 70 KiB of body, then nothing."""
    conn = socket.create_connection(("127.0.0.1", ep.port))
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    conn.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 10000000\r\n\r\n".encode()
                 + b"s" * STALL_AFTER)
    return conn


def full_push_of_one_blob(ep, auth) -> float:
    """POST, PATCH 1 MiB, PUT with its digest: the seconds it took (asserting a 201)."""
    started = time.monotonic()
    blob = b"b" * (1 << 20)
    path = upload_path(ep, auth)
    resp = requests.patch(ep.url + path, data=blob, headers=auth, timeout=20)
    assert resp.status_code == 202, resp.text
    resp = requests.put(ep.url + resp.headers["Location"].removeprefix(ep.url), headers=auth, timeout=20,
                        params={"digest": "sha256:" + hashlib.sha256(blob).hexdigest()})
    assert resp.status_code == 201, resp.text
    return time.monotonic() - started


def answer_or_close(conn, timeout: float) -> bytes:
    """What the endpoint sent before closing (b"" if it only closed); raises if it did neither in time."""
    conn.settimeout(timeout)
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    return data


def test_a_body_without_a_token_is_answered_401_and_closed_without_being_read(ep, sbx):
    path = upload_path(ep, token(ep, sbx.tenants[0]))
    conns = [stalled_patch(ep, path, None) for _ in range(STALLED)]
    try:
        assert healthz_seconds(ep) < 1.0
        for conn in conns:
            assert answer_or_close(conn, 5).startswith(b"HTTP/1.1 401")
    finally:
        for conn in conns:
            conn.close()


@pytest.fixture
def stalled(ep, sbx):
    """STALLED authenticated PATCHes, each of its own upload, stalled after 70 KiB of a 10 MB body."""
    auth = token(ep, sbx.tenants[0])
    paths, conns = [], []
    time.sleep(1.0)  # the sandbox, as SWR, refuses a tenant's 21st request in a second: paced at 10
    for _ in range(STALLED):
        paths.append(upload_path(ep, auth))
        time.sleep(0.1)
    try:
        for path in paths:  # each PATCH opens its upstream request too: paced the same way
            conns.append(stalled_patch(ep, path, auth["Authorization"]))
            time.sleep(0.1)
        time.sleep(2.0)  # every one is past its 64 KiB and stalled in its thread by now
        yield conns
    finally:
        for conn in conns:
            conn.close()


def still_open(conn) -> bool:
    conn.setblocking(False)
    try:
        conn.recv(4096)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False  # answered or closed


def test_authenticated_bodies_that_stall_after_64_kib_starve_neither_healthz_nor_pushes(ep, sbx, stalled):
    auth = token(ep, sbx.tenants[0])
    for _ in range(3):
        assert healthz_seconds(ep) < 1.0
    seconds = []
    pushes = [threading.Thread(target=lambda: seconds.append(full_push_of_one_blob(ep, auth)))
              for _ in range(THREADS)]
    for push in pushes:
        push.start()
    for push in pushes:
        push.join(30)
    assert len(seconds) == THREADS and max(seconds) < 5.0, seconds
    assert healthz_seconds(ep) < 1.0
    # Parked reads are bounded (2 x threads by default): the oldest stalled ones were cut.
    assert sum(still_open(conn) for conn in stalled) <= 2 * THREADS


def test_a_harbor_throttled_to_100_kib_per_second_pushes_among_stalled_bodies(ep, sbx, stalled):
    auth = token(ep, sbx.tenants[0])
    blob = os.urandom(640 << 10)

    class Throttled:
        """As Harbor's throttle does it (a Go rate.Limiter waiting after each read of its source): 32 KiB,
        then a wait of 0.32 s, at 100 KiB/s. Every wait parks the read; none is cut or held back."""

        def __len__(self):
            return len(blob)

        def __iter__(self):
            for offset in range(0, len(blob), 32 << 10):
                yield blob[offset:offset + (32 << 10)]
                time.sleep(0.32)

    path = upload_path(ep, auth)
    resp = requests.patch(ep.url + path, data=Throttled(), headers=auth, timeout=30)
    assert resp.status_code == 202, resp.text
    resp = requests.put(ep.url + resp.headers["Location"].removeprefix(ep.url), headers=auth, timeout=20,
                        params={"digest": "sha256:" + hashlib.sha256(blob).hexdigest()})
    assert resp.status_code == 201, resp.text
    assert healthz_seconds(ep) < 1.0
