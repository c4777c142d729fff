"""The lean transport's wire against a server that answers exactly the bytes a test gives it."""

import http.client
import socket
import threading

import pytest

from adapter.transfer.wire import Connection


class Scripted:
    """Accepts connections on 127.0.0.1; for each request read, sends the next scripted answer as is
    (None: close the connection, at once after the answer before it). Records each request's head and body."""

    def __init__(self, answers):
        self.answers, self.requests, self.accepted = list(answers), [], 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.answers:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            with sock:
                self._converse(sock)

    def _converse(self, sock):
        data = b""
        while self.answers:
            while b"\r\n\r\n" not in data:
                more = sock.recv(65536)
                if not more:
                    return
                data += more
            head, _, data = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if b"transfer-encoding: chunked" in head.lower():  # kept framed, as it came
                while b"0\r\n\r\n" not in data:
                    data += sock.recv(65536)
                length = data.index(b"0\r\n\r\n") + 5
            while len(data) < length:
                data += sock.recv(65536)
            self.requests.append((head.decode(), data[:length]))
            data = data[length:]
            answer = self.answers.pop(0)
            if answer is None:
                return
            sock.sendall(answer)
            if self.answers and self.answers[0] is None:  # answered, then closed at once
                self.answers.pop(0)
                return

    def connection(self) -> Connection:
        conn = Connection(http.client.HTTPConnection("127.0.0.1", self.port, timeout=5), f"127.0.0.1:{self.port}")
        conn.connect()
        conn.sock.settimeout(5)
        return conn

    def close(self):
        self.listener.close()


@pytest.fixture
def scripted():
    servers = []

    def make(*answers):
        servers.append(Scripted(answers))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_the_request_is_written_as_http_client_writes_it(scripted):
    server = scripted(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    answer = server.connection().exchange("PUT", "/v2/a/blobs/uploads/x?digest=sha256:ab",
                                          [("Content-Length", "4"), ("X-A", "b")], b"data", False)
    head, body = server.requests[0]
    assert head.split("\r\n") == ["PUT /v2/a/blobs/uploads/x?digest=sha256:ab HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
                                  "Content-Length: 4", "X-A: b"]
    assert body == b"data" and (answer.status, answer.reason, answer.body, answer.will_close) == (201, "Created", b"", False)


def test_a_chunked_answer_with_extensions_and_trailers_is_read_whole(scripted):
    server = scripted(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
                      b"HTTP/1.1 204 No Content\r\n\r\n")
    conn = server.connection()
    assert conn.exchange("GET", "/a", [], None, False).body == b"hello world"
    assert conn.exchange("GET", "/b", [], None, False).status == 204  # the connection was left clean
    assert server.accepted == 1


def test_interim_answers_are_skipped_and_lf_only_heads_and_folded_headers_are_read(scripted):
    server = scripted(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                      b"HTTP/1.1 200 OK\nX-Long: one\n  two\nContent-Length: 2\n\nok")
    answer = server.connection().exchange("GET", "/", [], None, False)
    assert (answer.status, answer.body, answer.header("x-long")) == (200, b"ok", "one two")


@pytest.mark.parametrize("answer, method, body, will_close", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD", b"", False),  # HEAD: the length, no body
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET", b"", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", b"ok", True),  # 1.0 closes unless told otherwise
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", "GET", b"ok", False),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "GET", b"ok", True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", "GET", b"ok", True),  # bytes past the answer
])
def test_lengths_and_keep_alive(scripted, answer, method, body, will_close):
    got = scripted(answer).connection().exchange(method, "/", [], None, False)
    assert (got.body, got.will_close) == (body, will_close)


def test_an_answer_without_a_length_runs_to_the_end(scripted):
    server = scripted(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", None)
    got = server.connection().exchange("GET", "/", [], None, False)
    assert (got.body, got.will_close) == (b"until the end", True)


@pytest.mark.parametrize("answer, error", [
    (None, http.client.RemoteDisconnected),  # closed without a word: a kept-alive connection the server dropped
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
    (b"SSH-2.0-OpenSSH\r\n\r\n", http.client.BadStatusLine),
    ("HTTP/1.1 2\u00b20 OK\r\n\r\n".encode("latin-1"), http.client.BadStatusLine),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000, http.client.LineTooLong),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.IncompleteRead),
])
def test_broken_answers_raise_http_clients_errors(scripted, answer, error):
    server = scripted(answer, None) if answer else scripted(None)
    conn = server.connection()
    with pytest.raises(error):
        conn.exchange("GET", "/", [], None, False)


def test_a_target_with_spaces_or_controls_is_refused_before_anything_is_sent(scripted):
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(http.client.InvalidURL):
        server.connection().exchange("GET", "/a b\r\nX: y", [], None, False)
    assert server.requests == []


def test_an_iterated_body_is_framed_when_chunked_and_empty_pieces_are_skipped(scripted):
    server = scripted(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    server.connection().exchange("PATCH", "/u", [("Transfer-Encoding", "chunked")],
                                 iter([b"abc", b"", memoryview(b"defgh")]), True)
    head, body = server.requests[0]
    assert "Transfer-Encoding: chunked" in head and body == b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"
