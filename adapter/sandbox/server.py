"""The sandbox API's HTTP server: werkzeug's threaded server, with HTTP/1.1 keep-alive as SWR's gateway has it.

werkzeug closes every connection after one response, because http.server cannot skip a request body
the app left unread. Here bodies up to MAX_BODY are read before the app runs, so the next request
starts where it should, and the connection stays open. Anything else (chunked or larger bodies, a
client asking to close) is served as werkzeug serves it. Open connections are tracked, so that
stopping the sandbox also ends them: a pooled client connection must not reach a stopped sandbox.
"""

from __future__ import annotations

import io
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may wait for its next request


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in two writes; on a connection that stays open, Nagle's algorithm would hold
    # the body back until the client's delayed ACK of the headers, some 40 ms later.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        self.keep_alive = (
            "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower()
            and length.isdigit() and int(length) <= MAX_BODY
            and (self.headers.get("Connection") or "").lower() != "close"
        )
        if not self.keep_alive:
            return super().run_wsgi()
        real, self._body = self.rfile, self.rfile.read(int(length))
        # After the response werkzeug reads whatever the socket holds, to discard an unread body. Here the
        # body is read already, and what the socket holds is the client's next request: keep it there.
        self.rfile = io.BytesIO()
        try:
            return super().run_wsgi()
        finally:
            # Answers outside run_wsgi (a malformed next request line) must close the connection as usual.
            self.rfile, self.keep_alive = real, False

    def make_environ(self):
        environ = super().make_environ()
        if self.keep_alive:
            environ["wsgi.input"] = io.BytesIO(self._body)
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and getattr(self, "keep_alive", False):
            return
        super().send_header(keyword, value)


class QuietHandler(KeepAliveHandler):
    """No access log line per request: the registry address, like docker-registry's, does not keep one."""

    def log_request(self, code="-", size="-") -> None:
        pass


class KeepAliveServer(ThreadedWSGIServer):
    def __init__(self, host: str, port: int, app, handler=KeepAliveHandler):
        super().__init__(host, port, app, handler)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._open.add if is_open else self._open.discard)(connection)

    def close_connections(self) -> None:
        """Ends every open connection; call after shutdown(), which only stops accepting new ones."""
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
