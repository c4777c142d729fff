"""The HTTP layer: Go net/http framing on the wire, and a record of every exchange.

Requests go out through urllib3 so the header lines are exactly the ones listed (repeated `Accept`
lines included, no library defaults). Framing follows Go's client: `Content-Length: 0` on a bodiless
POST/PUT/PATCH, none on GET/HEAD/DELETE; `Accept-Encoding: gzip` added on requests other than HEAD
that carry no `Range` (Go's transport does that itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

import urllib3
from urllib3.util import SKIP_HEADER

HARBOR_USER_AGENT = "harbor-registry-client"  # src/common/const.go UserAgent
GO_USER_AGENT = "Go-http-client/1.1"  # what Go sends when a request sets no User-Agent
# Enough for a whole listing of a tenant the suite shares: a test that parses it failed when the
# integration tests had run first and left the tenant's repository list past 64 KiB.
BODY_KEEP = 1024 * 1024
HW_CONTENT_TYPE = "application/json; charset=utf-8"  # the huawei adapter's custom calls, even on GET


class TransportError(Exception):
    """No HTTP answer: connection refused or reset, timeout, or a body that could not be sent."""


class InjectedAbort(Exception):
    """Raised by a request body on purpose, to cut the request off mid-way (a simulated failure).

    Not an OSError, so urllib3 does not wrap it: it propagates and the connection is closed."""


@dataclass
class Exchange:
    """One request as sent (headers in wire order, Host left out) and what came back."""

    seq: int
    purpose: str
    method: str
    url: str
    headers: list[tuple[str, str]]
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""  # the first BODY_KEEP bytes of a body that was read (not streamed)
    sent_bytes: int = 0
    error: str | None = None
    started: float = 0.0
    elapsed: float = 0.0

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def raw_query(self) -> str:
        return urlsplit(self.url).query

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The first value of a request header (case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def response_header(self, name: str) -> str | None:
        return next((v for k, v in self.response_headers if k.lower() == name.lower()), None)

    def __repr__(self) -> str:
        status = self.status if self.error is None else f"error {self.error}"
        return f"<{self.seq} {self.purpose}: {self.method} {self.url} -> {status}>"


class Recorder:
    """Every exchange of one or more clients, in order; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []

    def _add(self, exchange: Exchange) -> Exchange:
        with self._lock:
            exchange.seq = len(self.exchanges)
            self.exchanges.append(exchange)
        return exchange

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    def __len__(self) -> int:
        return len(self.exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self.exchanges))

    def select(self, purpose: str | Iterable[str] | None = None, method: str | None = None,
               path_contains: str | None = None) -> list[Exchange]:
        purposes = {purpose} if isinstance(purpose, str) else set(purpose or ())
        return [e for e in self
                if (not purposes or e.purpose in purposes)
                and (method is None or e.method == method)
                and (path_contains is None or path_contains in e.path)]

    def purposes(self) -> list[str]:
        return [e.purpose for e in self]

    def summary(self) -> list[str]:
        """`PURPOSE METHOD PATH STATUS` lines, for assertion messages."""
        return [f"{e.purpose} {e.method} {e.path}{'?' + e.raw_query if e.raw_query else ''} "
                f"{e.status if e.error is None else e.error}" for e in self]


class Response:
    """A finished (or, for streamed blob reads, open) answer; `body` is read unless streamed."""

    def __init__(self, exchange: Exchange, raw: urllib3.BaseHTTPResponse, streamed: bool):
        self.exchange, self._raw, self.streamed = exchange, raw, streamed
        self.status = raw.status
        self.headers = raw.headers
        self.body = b"" if streamed else raw.data

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_list(self, name: str) -> list[str]:
        return self.headers.getlist(name)

    def iter_content(self, size: int = 1 << 20) -> Iterator[bytes]:
        try:
            yield from self._raw.stream(size, decode_content=True)
        finally:
            self.close()

    def close(self) -> None:
        self._raw.release_conn()

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


class _CountingBody:
    """Iterates the caller's chunks, counting what was handed to the socket."""

    def __init__(self, chunks: Iterable[bytes], exchange: Exchange):
        self._chunks, self._exchange = chunks, exchange

    def __iter__(self):
        for chunk in self._chunks:
            if chunk:
                self._exchange.sent_bytes += len(chunk)
                yield chunk


class Transport:
    """Sends requests Go-style and records them; one connection pool, no retries, no redirects."""

    def __init__(self, recorder: Recorder | None = None, *, verify: bool = True, ca_certs: str | None = None,
                 timeout: float = 1800.0, connect_timeout: float = 30.0):
        self.recorder = recorder or Recorder()
        kwargs = {"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
        if ca_certs:
            kwargs["ca_certs"] = ca_certs
        # REGISTRY_HTTP_CLIENT_TIMEOUT defaults to 30 minutes for a whole request; dial timeout 30 s.
        self._pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=connect_timeout,
                                                                                read=timeout), **kwargs)

    def close(self) -> None:
        self._pool.clear()

    def send(self, method: str, url: str, headers: list[tuple[str, str]], *, purpose: str,
             body: bytes | Iterable[bytes] | None = None, length: int | None = None,
             chunked: bool = False, stream: bool = False) -> Response:
        """Sends one request. `body` bytes get a Content-Length; an iterable body needs `length`
        (sent as Content-Length) or `chunked=True` (Transfer-Encoding: chunked)."""
        sent = list(headers)
        names = {k.lower() for k, _ in sent}
        if isinstance(body, (bytes, bytearray)):
            length = len(body)
        if chunked:
            sent.append(("Transfer-Encoding", "chunked"))
        elif length is not None:
            sent.append(("Content-Length", str(length)))
        elif method in ("POST", "PUT", "PATCH") and "content-length" not in names:
            sent.append(("Content-Length", "0"))
        wire = urllib3.HTTPHeaderDict()
        for key, value in sent:
            wire.add(key, value)
        if "accept-encoding" not in names:
            if method != "HEAD" and "range" not in names:
                sent.append(("Accept-Encoding", "gzip"))
                wire.add("Accept-Encoding", "gzip")
            else:
                wire.add("Accept-Encoding", SKIP_HEADER)
        exchange = self.recorder._add(Exchange(0, purpose, method, url, sent, started=time.time()))
        payload = body
        if body is not None and not isinstance(body, (bytes, bytearray)):
            payload = _CountingBody(body, exchange)
        elif body is not None:
            exchange.sent_bytes = len(body)
        began = time.monotonic()
        try:
            raw = self._pool.urlopen(method, url, body=payload, headers=wire, chunked=chunked, redirect=False,
                                     preload_content=not stream, decode_content=True, assert_same_host=False)
        except InjectedAbort as exc:
            exchange.error = f"aborted: {exc}"
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            raise TransportError(f"{method} {url}: {exchange.error}") from exc
        finally:
            exchange.elapsed = time.monotonic() - began
        exchange.status = raw.status
        exchange.response_headers = list(raw.headers.items())
        response = Response(exchange, raw, stream)
        exchange.response_body = response.body[:BODY_KEEP]
        return response


# --- Go net/url behaviour ------------------------------------------------------------------------

def go_query_escape(value: str) -> str:
    """url.QueryEscape: everything but [A-Za-z0-9-_.~] percent-encoded, spaces as '+'."""
    return quote_plus(value, safe="")


def go_values_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """url.Values.Encode(): keys sorted, each key's values in insertion order, all query-escaped."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return "&".join(f"{go_query_escape(k)}={go_query_escape(v)}" for k in sorted(grouped) for v in grouped[k])


def go_parse_query(raw: str) -> list[tuple[str, str]]:
    """url.ParseQuery as url.Query() uses it: '&'-separated, '+' is a space; pairs with ';' are dropped."""
    return [(k, v) for k, v in parse_qsl(raw, keep_blank_values=True) if ";" not in k]


def with_query(endpoint: str, location: str, set_pairs: dict[str, str]) -> str:
    """Harbor's buildMonolithicBlobUploadURL / buildChunkBlobUploadURL: parse `location`, re-encode its
    query with url.Values.Encode() after setting `set_pairs`, and prefix a relative URL with the
    registry URL."""
    parts = urlsplit(location)
    pairs = [(k, v) for k, v in go_parse_query(parts.query) if k not in set_pairs]
    pairs += list(set_pairs.items())
    query = go_values_encode(pairs)
    rebuilt = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    if parts.scheme and parts.netloc:
        return rebuilt
    return endpoint + rebuilt
