"""LeanAdapter against a real HTTP/1.1 server on 127.0.0.1: what requests' own adapter would give, cheaper."""

import gzip
import io
import socket
import ssl
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from adapter.transfer.session import LeanSession
from adapter.transfer.transport import LeanAdapter
from tests.fixtures import local_http
from tests.tls import self_signed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's naming
        routes = {
            "/plain": (200, [("Content-Type", "application/json; charset=utf-8")], b'{"ok": true}'),
            "/gzip": (200, [("Content-Encoding", "gzip")], gzip.compress(b"x" * 1000)),
            "/deflate": (200, [("Content-Encoding", "deflate")], zlib.compress(b"y" * 1000)),
            "/twice": (200, [("Link", "<a>"), ("Link", "<b>")], b""),
            "/cookie": (200, [("Set-Cookie", "lb=one; Path=/")], b""),
            "/close": (200, [("Connection", "close")], b"bye"),
            "/missing": (404, [("Content-Type", "application/json")], b'{"errors": []}'),
        }
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/hangup":  # closes without an answer
            self.close_connection = True
            return
        status, headers, body = routes.get(self.path, (200, [], self.headers.get("Accept-Encoding", "").encode()))
        self.server.seen.append((self.command, self.path, self.client_address[1], dict(self.headers)))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.command == "HEAD":
            self.send_header("Docker-Content-Digest", "sha256:" + "0" * 64)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_POST = do_GET  # noqa: N815

    def do_PUT(self):  # noqa: N802
        self._echo(201)

    def do_PATCH(self):  # noqa: N802
        self._echo(202)

    def _echo(self, status: int) -> None:
        """Answers `status` with the request's body (sized or chunked) as its own."""
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.command, self.path, self.client_address[1], dict(self.headers)))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the timeout test's client goes away mid-answer, on purpose


@pytest.fixture
def server():
    with local_http(Handler, Server) as httpd:
        httpd.seen = []
        yield httpd


@pytest.fixture
def session():
    s = LeanSession()
    s.trust_env = False
    adapter = LeanAdapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    yield s
    s.close()


def call(session, method, url, **kw):
    return session.request(method, url, stream=kw.pop("stream", False), timeout=kw.pop("timeout", (5, 30)),
                           allow_redirects=False, **kw)


def base(server):
    return f"http://127.0.0.1:{server.server_port}"


def test_answers_match_requests_own_adapter(server, session):
    for path in ("/plain", "/gzip", "/deflate", "/twice", "/missing"):
        ours = call(session, "GET", base(server) + path)
        theirs = requests.get(base(server) + path, timeout=5)
        assert (ours.status_code, ours.reason, ours.content, ours.encoding) == \
               (theirs.status_code, theirs.reason, theirs.content, theirs.encoding)
        assert {k: v for k, v in ours.headers.items() if k != "Date"} == \
               {k: v for k, v in theirs.headers.items() if k != "Date"}
    assert call(session, "GET", base(server) + "/plain").json() == {"ok": True}


def test_head_and_put_on_one_kept_connection(server, session):
    head = call(session, "HEAD", base(server) + "/v2/a/manifests/v1")
    put = call(session, "PUT", base(server) + "/v2/a/manifests/v1", data=b"manifest",
               headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert head.status_code == 200 and head.content == b"" and head.headers["Docker-Content-Digest"]
    assert put.status_code == 201 and put.content == b"manifest"
    ports = {port for _, _, port, _ in server.seen}
    assert len(ports) == 1  # the second call reused the first one's connection
    assert server.seen[1][3]["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"


def test_a_connection_the_server_closed_is_replaced(server, session):
    assert call(session, "GET", base(server) + "/close").content == b"bye"
    assert call(session, "GET", base(server) + "/plain").status_code == 200
    assert len({port for _, _, port, _ in server.seen}) == 2


def test_an_idle_connection_dropped_by_the_server_is_not_reused(server, session):
    call(session, "GET", base(server) + "/plain")
    [[conn]] = session.get_adapter("http://x")._idle.values()
    conn.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout would leave it: readable, at EOF
    assert call(session, "GET", base(server) + "/plain").status_code == 200
    assert len({port for _, _, port, _ in server.seen}) == 2


def test_only_codings_it_can_undo_are_offered(server, session):
    offered = call(session, "GET", base(server) + "/echo", headers={"Accept-Encoding": "gzip, br, zstd"}).content
    assert offered == b"gzip"


def test_cookies_reach_the_session(server, session):
    call(session, "GET", base(server) + "/cookie")
    assert session.cookies.get("lb") == "one"


def test_failures_are_requests_exceptions(server, session):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(requests.ConnectionError):
        call(session, "GET", f"http://127.0.0.1:{port}/")
    with pytest.raises(requests.ReadTimeout):
        call(session, "GET", base(server) + "/slow", timeout=(5, 0.3))
    with pytest.raises(requests.ConnectionError):  # a fresh connection that gets no answer is not retried
        call(session, "POST", base(server) + "/hangup")


def watched_session() -> tuple[LeanSession, list]:
    """A session whose fallback (requests' own adapter) records the URLs it is handed."""
    sent = []

    class Fallback(requests.adapters.HTTPAdapter):
        def send(self, request, **kw):
            sent.append(request.url)
            return super().send(request, **kw)

    s = LeanSession()
    s.trust_env = False
    s.mount("http://", LeanAdapter(Fallback()))
    return s, sent


def test_streams_and_file_bodies_go_to_the_fallback(server):
    s, sent = watched_session()
    assert call(s, "GET", base(server) + "/plain", stream=True).raw.read() == b'{"ok": true}'
    assert call(s, "PUT", base(server) + "/up", data=io.BytesIO(b"abc")).content == b"abc"
    call(s, "GET", base(server) + "/plain", timeout=requests.adapters.TimeoutSauce(connect=5, read=5))
    call(s, "GET", base(server) + "/plain")
    assert sent == [base(server) + "/plain", base(server) + "/up", base(server) + "/plain"]
    s.close()


class Pieces:
    """An iterated body as the endpoint's BodyStream is: memoryviews of one buffer, of no declared length."""

    def __init__(self, data: bytes, piece: int, fail_after: int | None = None):
        self.data, self.piece, self.fail_after = data, piece, fail_after

    def __iter__(self):
        view = memoryview(self.data)
        for n, start in enumerate(range(0, len(self.data), self.piece)):
            if n == self.fail_after:
                raise LookupError("the client went away")
            yield view[start:start + self.piece]


class SizedPieces(Pieces):
    def __len__(self):
        return len(self.data)


def test_an_iterated_body_is_sent_here_sized_or_chunked_and_its_failure_cuts_the_request(server):
    s, sent = watched_session()
    data = bytes(range(256)) * 4096  # 1 MiB
    sized = call(s, "PATCH", base(server) + "/blob", data=SizedPieces(data, 65536))
    assert sized.status_code == 202 and sized.content == data
    assert server.seen[-1][3]["Content-Length"] == str(len(data))
    chunked = call(s, "PATCH", base(server) + "/blob", data=Pieces(data, 100_000))
    assert chunked.status_code == 202 and chunked.content == data
    assert server.seen[-1][3]["Transfer-Encoding"] == "chunked"
    with pytest.raises(LookupError):  # the body's own error, unchanged: the caller knows it was the client
        call(s, "PATCH", base(server) + "/blob", data=SizedPieces(data, 65536, fail_after=3))
    assert call(s, "GET", base(server) + "/plain").json() == {"ok": True}  # the cut connection was not reused
    assert sent == []
    s.close()


def test_https_verifies_by_default_and_trusts_a_given_ca(tmp_path, session):
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with local_http(Handler, Server, tls=context) as httpd:
        httpd.seen = []
        url = f"{httpd.url}/plain"
        with pytest.raises(requests.exceptions.SSLError):
            call(session, "GET", url)
        assert call(session, "GET", url, verify=str(cert)).json() == {"ok": True}
        assert call(session, "GET", url, verify=False).json() == {"ok": True}
