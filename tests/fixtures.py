"""Fixtures and helpers more than one test folder needs, written once: env secrets, local HTTP servers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest


def secrets_fixture(values: dict[str, str], unset: tuple[str, ...] = ()):
    """An autouse fixture that sets `values` in the environment (and removes `unset`) for each test."""

    @pytest.fixture(autouse=True)
    def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
        for name in unset:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return secrets_env


@contextlib.contextmanager
def local_http(handler, server_class=ThreadingHTTPServer, tls=None) -> Iterator[ThreadingHTTPServer]:
    """An HTTP server (HTTPS with an ssl.SSLContext `tls`) on 127.0.0.1 and a free port, served from a
    thread; `server.url` is its base URL."""
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
