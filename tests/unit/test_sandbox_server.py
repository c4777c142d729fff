"""The sandbox API server keeps HTTP/1.1 connections open, never mixes one request's body into the next,
and ends open connections when stopped."""

import socket
import threading

import pytest

from adapter.sandbox.server import KeepAliveServer


def app(environ, start_response):
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"].read() if path == "/echo" else b""  # /ignore leaves the body unread
    reply = path.encode() + b":" + body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(reply)))])
    return [reply]


@pytest.fixture
def server():
    srv = KeepAliveServer("127.0.0.1", 0, app)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    thread.join(5)
    srv.close_connections()
    srv.server_close()


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Sends one request and reads one response (headers plus Content-Length bytes); b"" when closed."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def request(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_one_connection_carries_many_requests_even_with_unread_bodies(server):
    with socket.create_connection(server.server_address, timeout=5) as sock:
        first = exchange(sock, request("POST", "/ignore", b"x" * 5000))
        # The client's next request arrives at once: it must not be taken for the rest of the first body.
        sock.sendall(request("POST", "/echo", b"hello") + request("GET", "/third"))
        both = b""
        while not both.endswith(b"/third:"):
            both += sock.recv(65536)
    assert b"Connection: close" not in first and first.endswith(b"/ignore:")
    assert both.count(b"HTTP/1.1 200") == 2 and b"/echo:hello" in both


def test_chunked_bodies_and_clients_asking_to_close_get_a_closed_connection(server):
    with socket.create_connection(server.server_address, timeout=5) as sock:
        reply = exchange(sock, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"5\r\nhello\r\n0\r\n\r\n")
        assert b"Connection: close" in reply and reply.endswith(b"/echo:hello")
        assert sock.recv(100) == b""
    with socket.create_connection(server.server_address, timeout=5) as sock:
        assert b"Connection: close" in exchange(sock, request("GET", "/a", extra="Connection: close\r\n"))
        assert sock.recv(100) == b""


def test_close_connections_ends_idle_kept_alive_connections(server):
    with socket.create_connection(server.server_address, timeout=5) as sock:
        assert exchange(sock, request("GET", "/a")).endswith(b"/a:")
        server.close_connections()
        assert sock.recv(100) == b""


def test_a_refused_request_after_a_kept_alive_one_still_closes_the_connection(server):
    with socket.create_connection(server.server_address, timeout=5) as sock:
        assert exchange(sock, request("GET", "/a")).endswith(b"/a:")
        sock.sendall(b"GET /b HTTP/1.1\r\nX: " + b"x" * 70000 + b"\r\n\r\n")  # answered by http.server
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 431") and b"Connection: close" in reply
