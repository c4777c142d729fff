"""HarborDouble: the app served on 127.0.0.1 on a free port, in a thread, with its journal at hand."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from tests.doubles.harbor.app import create_app
from tests.doubles.harbor.journal import WRITE_METHODS, Fault, Journal, RecordedRequest, Violation
from tests.doubles.harbor.state import HarborState


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *_: Any) -> None:
        """The journal records requests; no access log on stderr."""


class HarborDouble:
    """A strict stand-in for Harbor's /api/v2.0. Use as a context manager, or start()/stop().

    `url` is the address to give a client; `state` the seedable HarborState; the journal methods
    below tell what the client sent.
    """

    def __init__(self, state: HarborState | None = None):
        self.state = state or HarborState()
        self.journal = Journal()
        self.app = create_app(self)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _locked_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        # One request at a time: views mutate shared dicts, and the answers are small.
        with self.state.lock:
            return self.app(environ, start_response)

    def start(self) -> HarborDouble:
        self._server = make_server("127.0.0.1", 0, self._locked_app, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), name="harbor-double",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> HarborDouble:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    # --- what the client did ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.journal.requests

    @property
    def violations(self) -> list[Violation]:
        return self.journal.violations

    def calls(self, method: str | None = None, route: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, optionally only one method and/or swagger route (e.g. "/registries/{id}")."""
        return self.journal.matching(method, route)

    def count(self, method: str | None = None, route: str | None = None) -> int:
        return len(self.calls(method, route))

    def writes(self) -> int:
        """How many POST/PUT/PATCH/DELETE requests arrived."""
        return sum(r.method in WRITE_METHODS for r in self.requests)

    def last(self, method: str, route: str) -> RecordedRequest:
        found = self.calls(method, route)
        assert found, f"no {method} {route} was sent; sent: {[(r.method, r.path) for r in self.requests]}"
        return found[-1]

    def fail(self, method: str, route: str, status: int, *, times: int = 1, body: Any = None,
             headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` calls to (method, swagger route) with `status` (a Harbor error body by default)."""
        self.journal.faults.append(Fault(method, route, status, body, dict(headers or {}), times))

    def take_violations(self) -> list[Violation]:
        return self.journal.take_violations()

    def assert_no_violations(self) -> None:
        """Fail with every recorded violation: which call, which part, which schema rule."""
        found = self.journal.violations
        assert not found, "Harbor contract violations:\n" + "\n".join(f"  {v}" for v in found)
