"""A local HTTP endpoint that records what a sink sends and answers from a script."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler

from tests.fixtures import local_http


class Receiver:
    """Answers each POST with the next scripted status (the last one repeats); records every request."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses) or [200]
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                    receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                                              self.headers.items()},
                                              "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return None

        self._stack = contextlib.ExitStack()
        self._handler = Handler

    def __enter__(self) -> Receiver:
        self.server = self._stack.enter_context(local_http(self._handler))
        self.url = f"{self.server.url}/hook"
        return self

    def __exit__(self, *_):
        self._stack.close()
