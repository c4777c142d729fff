"""A lean transport adapter: small, fully read calls on pooled http.client connections; the rest to urllib3.

A no-op re-sync is hundreds of manifest checks, and urllib3's per-request machinery (retry objects,
pool keys, header dicts, response wrappers) cost about 0.5 ms of CPU each on these machines, which is
more than the registry needs to answer. Calls whose answer is read whole (`stream=False`) go here,
with no body, a bytes body or an iterated one (the endpoint's blob PATCHes); downloads, file bodies,
proxies and client certificates take requests' HTTPAdapter unchanged. Both answer with the same
requests.Response and raise the same exceptions. The endpoint's session uses it too: a push is some
25 such calls per image.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import select
import socket
import ssl
import threading
import zlib
from datetime import timedelta
from time import perf_counter
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.cookies import MockRequest, MockResponse
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers

from adapter.transfer.wire import Answer, Connection

IDLE_PER_HOST = 32
_REPLAYABLE = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_CODINGS = frozenset({"gzip", "deflate", "identity"})
_BROKEN = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def _dropped(conn: Connection) -> bool:
    """An idle keep-alive connection the server has closed (or sent something unasked on) meanwhile."""
    return conn.sock is None or bool(conn.buf) or bool(select.select([conn.sock], [], [], 0)[0])


def _host_header(host: str, port: int, default_port: int) -> str:
    """The Host header http.client would send: an IPv6 address in brackets, the port unless the default."""
    host = f"[{host}]" if ":" in host else host
    return host if port == default_port else f"{host}:{port}"


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body as requests gives it: gzip and deflate undone, anything else as sent."""
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:  # raw deflate without the zlib header, which some servers send
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


def _replayable(body) -> bool:
    return body is None or isinstance(body, bytes)


def _sendable(body) -> bool:
    """A body sent from here: bytes, or an iterable of bytes that is not a file (files go to urllib3)."""
    return isinstance(body, bytes) or (hasattr(body, "__iter__") and not hasattr(body, "read")
                                       and not isinstance(body, str))


@functools.lru_cache(maxsize=16)
def _decodable(accept: str) -> str:
    """Accept-Encoding without the codings _decoded cannot undo (br, zstd: requests offers them when installed)."""
    return ", ".join(c for c in (p.strip() for p in accept.split(",")) if c.split(";")[0] in _CODINGS) or "identity"


class LeanAdapter(BaseAdapter):
    """Pooled keep-alive connections per (scheme, host, port, verify); `fallback` serves what it does not."""

    def __init__(self, fallback: HTTPAdapter | None = None, idle_per_host: int = IDLE_PER_HOST):
        super().__init__()
        self.fallback = fallback or HTTPAdapter()
        self.idle_per_host = idle_per_host
        self._idle: dict[tuple, list[Connection]] = {}
        self._contexts: dict[object, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body
        if (stream or cert or any((proxies or {}).values()) or not (body is None or _sendable(body))
                or not (timeout is None or isinstance(timeout, (int, float, tuple)))):  # e.g. urllib3's Timeout
            return self.fallback.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                      proxies=proxies)
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        url = urlsplit(request.url)
        key = (url.scheme, url.hostname, url.port, verify if isinstance(verify, (bool, str)) else True)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        start = perf_counter()
        for attempt in (0, 1):
            conn, reused = self._checkout(key, connect)
            self._connect(conn, request)
            try:
                response, content = self._exchange(conn, request, target, read)
                break
            except _BROKEN as exc:
                conn.close()
                # A reused connection the server closed just as we sent: once more on a fresh one.
                if not (reused and attempt == 0 and request.method in _REPLAYABLE and _replayable(body)):
                    raise requests.ConnectionError(exc, request=request) from None
            except (TimeoutError, socket.timeout) as exc:
                conn.close()
                raise requests.ReadTimeout(exc, request=request) from None
            except (OSError, http.client.HTTPException, zlib.error) as exc:
                conn.close()
                raise requests.ConnectionError(exc, request=request) from None
            except BaseException:  # the body's own failure (the client went away): the request is cut
                conn.close()
                raise
        if response.will_close:
            conn.close()
        else:
            self._checkin(key, conn)
        return self._build(request, response, content, perf_counter() - start)

    @staticmethod
    def _connect(conn, request) -> None:
        if conn.sock is not None:
            return
        try:
            conn.connect()
        except (TimeoutError, socket.timeout) as exc:
            conn.close()
            raise requests.ConnectTimeout(exc, request=request) from None
        except ssl.SSLError as exc:
            conn.close()
            raise requests.exceptions.SSLError(exc, request=request) from None
        except OSError as exc:
            conn.close()
            raise requests.ConnectionError(exc, request=request) from None

    @staticmethod
    def _exchange(conn: Connection, request, target: str, read) -> tuple[Answer, bytes]:
        if conn.sock.gettimeout() != read:  # settimeout is a system call (and a GIL hand-off) each time
            conn.sock.settimeout(read)
        headers, chunked = [], False
        for name, value in request.headers.items():
            lower = name.lower()
            if lower == "accept-encoding":
                value = _decodable(value)
            elif lower == "transfer-encoding":
                chunked = "chunked" in value.lower()
            headers.append((name, value))
        answer = conn.exchange(request.method, target, headers, request.body, chunked)
        encoding, content = answer.header("Content-Encoding"), answer.body
        return answer, (_decoded(content, encoding) if encoding and content else content)

    def _build(self, request, answer: Answer, content: bytes, elapsed: float):
        resp = requests.Response()
        headers, cookies = CaseInsensitiveDict(), False
        for name, value in answer.headers:  # repeated headers are joined, as urllib3 does
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
            cookies = cookies or name.lower() == "set-cookie"
        resp.status_code, resp.reason, resp.headers = answer.status, answer.reason, headers
        resp.encoding = get_encoding_from_headers(headers)
        resp.url, resp.request, resp.connection = request.url, request, self
        resp.raw = io.BytesIO(content)  # the body was read whole and the connection went back to the pool
        resp.elapsed = timedelta(seconds=elapsed)
        if cookies:  # requests' public cookie mocks, as its own adapter uses them
            resp.cookies.extract_cookies(MockResponse(answer.message()), MockRequest(request))
        return resp

    # --- connections ----------------------------------------------------------------------------
    def _checkout(self, key: tuple, connect) -> tuple[Connection, bool]:
        while True:
            with self._lock:  # the check below is a syscall: outside the lock all threads take for a call
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                break
            if not _dropped(conn):
                conn.link.timeout = connect
                return conn, True
            conn.close()
        scheme, host, port, verify = key
        if scheme == "https":
            link = http.client.HTTPSConnection(host, port, timeout=connect, context=self._context(verify))
        else:
            link = http.client.HTTPConnection(host, port, timeout=connect)
        return Connection(link, _host_header(host, link.port, link.default_port)), False

    def _checkin(self, key: tuple, conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.idle_per_host:
                idle.append(conn)
                return
        conn.close()

    def _context(self, verify) -> ssl.SSLContext:
        with self._lock:
            found = self._contexts.get(verify)
            if found is None:
                if verify is False:
                    found = ssl.create_default_context()
                    found.check_hostname, found.verify_mode = False, ssl.CERT_NONE
                elif isinstance(verify, str) and os.path.isdir(verify):  # a CA directory, as requests reads it
                    found = ssl.create_default_context(capath=verify)
                else:
                    found = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH if verify is True else verify)
                self._contexts[verify] = found
            return found

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
        self.fallback.close()

