"""The sandbox's registry address: what SWR refuses and limits, in front of docker-registry, which accepts it all.

On SWR's registry host (swr.md §4.5, §5.1, §6.3): an OCI image index is refused on manifest PUT
(400 MANIFEST_INVALID "Invalid image, fail to parse 'manifest.json'"); a layer over the size limit is
refused (413); a tenant's registry requests above the rate get 503 with Retry-After, and so does a
tenant's layer upload beyond the 20 it may have in flight at once; a blacklisted tenant gets 403 DENIED
(adapter/sandbox/blacklist.py); a repository name that breaks SWR's naming rules (swr.md §4.2) gets
400 NAME_INVALID "'repository' is invalid"; the token service and /dockyard answer there too. Everything
else streams to docker-registry and back.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

import jwt
import requests
from werkzeug.wsgi import get_input_stream

from adapter.sandbox.blacklist import BLACKLIST_LOGINS, Blacklist
from adapter.sandbox.errors import blacklisted
from adapter.swr.naming import NamingError, check_destination
from adapter.transfer.blacklist import BLACKLIST_SECONDS
from adapter.transfer.convert import REFUSED_MESSAGE, is_oci_index
from adapter.transfer.limits import LAYER_LIMIT, MAX_CONCURRENT_LAYERS, PUSH_RATE, ceil_seconds, human_size

CHUNK = 1 << 20
MAX_MANIFEST = 4 * 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade"}
LOG_LIMIT = 200_000  # request arrivals kept for rates()
# The repository a registry route names; greedy, since a repository may itself hold "blobs" or "tags".
REPOSITORY_ROUTE = re.compile(r"/v2/(?P<name>.+)/(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list)")
# swr.md §4.2: "A push that breaks these rules fails with `name invalid: 'repository' is invalid`", which is
# how docker prints the registry error NAME_INVALID with that message.
NAME_INVALID_MESSAGE = "'repository' is invalid"


@dataclass(frozen=True)
class Strictness:
    """What the sandbox enforces as SWR does; each can be turned off for experiments."""

    refuse_oci_index: bool = True
    max_layer_size: int | None = LAYER_LIMIT
    push_rate: float | None = PUSH_RATE
    api_on_registry: bool = True  # /dockyard and the token service on the registry address too
    max_concurrent_layers: int | None = MAX_CONCURRENT_LAYERS  # layer uploads in flight per tenant
    blacklist_logins: int | None = BLACKLIST_LOGINS  # token requests per minute before a tenant is blacklisted
    blacklist_seconds: float = BLACKLIST_SECONDS  # how long it then stays so
    check_names: bool = True  # SWR's repository naming rules on every /v2/<name>/... request

    @property
    def needs_front(self) -> bool:
        return bool(self.refuse_oci_index or self.max_layer_size or self.push_rate or self.api_on_registry
                    or self.max_concurrent_layers or self.blacklist_logins or self.check_names)


class TenantRate:
    """At most `rate` admitted requests per tenant in any one-second window; every arrival is logged."""

    def __init__(self, rate: float | None, clock=time.monotonic):
        self.rate, self.clock = rate, clock
        self._admitted: dict[str, deque] = {}
        self.arrivals: deque = deque(maxlen=LOG_LIMIT)  # (time, tenant, admitted)
        self._lock = threading.Lock()

    def admit(self, tenant: str) -> float | None:
        """None when admitted, else the seconds until the tenant may send again."""
        now = self.clock()
        with self._lock:
            window = self._admitted.setdefault(tenant, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            wait = None
            if self.rate and len(window) >= self.rate:
                wait = window[0] + 1.0 - now
            else:
                window.append(now)
            self.arrivals.append((now, tenant, wait is None))
        return wait


class TenantUploads:
    """At most `limit` layer uploads in flight per tenant: SWR's "at most 20 layers pushed at once"."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.open: dict[str, int] = {}  # tenant -> uploads in flight
        self.peak: dict[str, int] = {}  # tenant -> the most it had in flight at once
        self._lock = threading.Lock()

    def enter(self, tenant: str) -> bool:
        """True when the upload may start (then `leave` once it is answered), False when over the limit."""
        with self._lock:
            count = self.open.get(tenant, 0)
            if self.limit and count >= self.limit:
                return False
            self.open[tenant] = count + 1
            self.peak[tenant] = max(self.peak.get(tenant, 0), count + 1)
            return True

    def leave(self, tenant: str) -> None:
        with self._lock:
            self.open[tenant] -= 1


def carries_layer(method: str, path: str, environ) -> bool:
    """A request that carries layer data to the registry: a blob PATCH, a PUT or a monolithic POST with a body."""
    if "/blobs/uploads/" not in path or method not in ("PATCH", "PUT", "POST"):
        return False
    if method == "PATCH":
        return True
    length = environ.get("CONTENT_LENGTH") or ""
    return (length.isdigit() and int(length) > 0) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def name_violation(path: str) -> str | None:
    """Why the repository a registry path names breaks SWR's naming rules; None when it keeps them (or the
    path names no repository: /v2/, /v2/_catalog)."""
    route = REPOSITORY_ROUTE.fullmatch(path)
    if route is None:
        return None
    try:
        check_destination(route["name"])
    except NamingError as exc:
        return str(exc)
    return None


def _error(start_response, status: str, code: str, message: str, detail: str = "", headers=(), head=False):
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            ("Docker-Distribution-Api-Version", "registry/2.0"), *headers])
    return [] if head else [body]  # an answer to HEAD has headers only


class Front:
    """The WSGI app on the registry address; `backend` is docker-registry's URL once it runs."""

    def __init__(self, api_app, strict: Strictness, issuer, blacklist: Blacklist | None = None):
        self.api_app, self.strict, self.issuer = api_app, strict, issuer
        self.blacklist = blacklist or Blacklist(None)
        self.backend: str | None = None
        self.rates = TenantRate(strict.push_rate)
        self.uploads = TenantUploads(strict.max_concurrent_layers)
        self._local = threading.local()
        self._public_key = issuer._key.public_key()

    @property
    def _http(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.trust_env = False
        return self._local.session

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/v2" or path.startswith("/v2/"):
            return self._registry(environ, start_response, path)
        if self.strict.api_on_registry and (path.startswith("/dockyard/") or path.startswith("/swr/auth/")):
            return self.api_app(environ, start_response)
        body = b"404 page not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]

    def _tenant(self, environ) -> str | None:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = jwt.decode(token.strip(), self._public_key, algorithms=["RS256"], audience=self.issuer.service)
        except jwt.PyJWTError:
            return None  # docker-registry refuses it
        return claims.get("sub") or None

    def _registry(self, environ, start_response, path: str):
        method = environ["REQUEST_METHOD"]
        tenant = self._tenant(environ)
        left = self.blacklist.blocked(tenant) if tenant else None
        if left is not None:  # the token service's answer to the tenant, word for word
            refusal = blacklisted(left)
            return _error(start_response, "403 Forbidden", refusal.code, refusal.message, refusal.detail,
                          head=method == "HEAD")
        if tenant and path.count("/") > 2:
            wait = self.rates.admit(tenant)
            if wait is not None:
                return _error(start_response, "503 Service Unavailable", "TOOMANYREQUESTS",
                              f"the image push traffic of a tenant is limited to {self.strict.push_rate:g} "
                              "requests per second", headers=[("Retry-After", str(ceil_seconds(wait)))],
                              head=method == "HEAD")
        if tenant and self.strict.max_concurrent_layers and carries_layer(method, path, environ):
            if not self.uploads.enter(tenant):
                # The reference says SWR allows at most 20 layers pushed at once, not how it refuses the
                # 21st: the status is inferred, the answer of its push-rate limit (503 + Retry-After).
                return _error(start_response, "503 Service Unavailable", "TOOMANYREQUESTS",
                              f"at most {self.strict.max_concurrent_layers} layers of a tenant are pushed at once",
                              headers=[("Retry-After", "1")])
            try:
                # Back before the answer goes out: the layer's bytes are all in, and a client that sends
                # its next upload as soon as it has this answer must find the slot free.
                return self._checked(environ, start_response, method, path)
            finally:
                self.uploads.leave(tenant)
        return self._checked(environ, start_response, method, path)

    def _checked(self, environ, start_response, method: str, path: str):
        """SWR's refusals of a manifest or layer, and its answers that docker-registry words otherwise; then
        docker-registry."""
        body = None
        invalid = self.strict.check_names and name_violation(path)
        if invalid:
            # The distribution spec's status for NAME_INVALID; the reference gives only the code and words.
            return _error(start_response, "400 Bad Request", "NAME_INVALID", NAME_INVALID_MESSAGE, invalid,
                          head=method == "HEAD")
        if path == "/v2/_catalog":  # swr.md §6.1: "/v2/_catalog is not supported (404)"
            return _error(start_response, "404 Not Found", "UNSUPPORTED", "the registry catalog is not supported",
                          head=method == "HEAD")
        if method == "GET" and path.endswith("/tags/list"):
            return self._tags(environ, start_response, path)
        if method == "PUT" and "/manifests/" in path:
            body = get_input_stream(environ).read(MAX_MANIFEST + 1)
            content_type = environ.get("CONTENT_TYPE", "")
            if self.strict.refuse_oci_index and len(body) <= MAX_MANIFEST and is_oci_index(body, content_type):
                return _error(start_response, "400 Bad Request", "MANIFEST_INVALID", REFUSED_MESSAGE)
        elif method in ("PATCH", "PUT") and "/blobs/uploads/" in path:
            refused = self._too_large(environ)
            if refused:
                return _error(start_response, "413 Request Entity Too Large", "SIZE_INVALID", refused,
                              "SVCSTG.SWR.4131001")
        return self._forward(environ, start_response, method, path, body)

    def _tags(self, environ, start_response, path: str):
        """A repository without tags (or none at all) lists `"tags": null` with 200 (swr.md §6.1), where
        docker-registry answers 404 NAME_UNKNOWN."""
        captured = {}

        def keep(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        answer = self._forward(environ, keep, "GET", path, None)
        if not captured["status"].startswith("404"):
            start_response(captured["status"], captured["headers"])
            return answer
        body = b"".join(answer)
        if hasattr(answer, "close"):
            answer.close()
        if b"NAME_UNKNOWN" not in body:
            start_response(captured["status"], captured["headers"])
            return [body]
        name = path[len("/v2/"):-len("/tags/list")]
        out = json.dumps({"name": name, "tags": None}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out))),
                                  ("Docker-Distribution-Api-Version", "registry/2.0")])
        return [out]

    def _too_large(self, environ) -> str | None:
        limit = self.strict.max_layer_size
        if not limit:
            return None
        length = environ.get("CONTENT_LENGTH") or ""
        end = 0
        if length.isdigit():
            end = int(length)
        content_range = environ.get("HTTP_CONTENT_RANGE", "")
        first, _, last = content_range.replace("bytes", "").strip(" =").partition("-")
        if last.strip().isdigit():
            end = max(end, int(last) + 1)
        if end > limit:
            return f"layer exceeds the limit of {human_size(limit)} per layer ({end} bytes)"
        return None

    def _forward(self, environ, start_response, method: str, path: str, body: bytes | None):
        if not self.backend:
            return _error(start_response, "503 Service Unavailable", "UNAVAILABLE", "registry not running")
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_") and k[5:].replace("_", "-").lower() not in HOP_BY_HOP}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        url = self.backend + path + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        length = environ.get("CONTENT_LENGTH") or ""
        if body is None and length.isdigit():
            body = _Sized(get_input_stream(environ), int(length))
        elif body is None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = _chunks(get_input_stream(environ))
        try:
            resp = self._http.request(method, url, headers=headers, data=body, stream=True,
                                      allow_redirects=False, timeout=(5, 600))
        except requests.RequestException as exc:
            return _error(start_response, "502 Bad Gateway", "UNAVAILABLE", f"registry: {type(exc).__name__}")
        # The server adds its own Date and Server.
        out = [(k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP | {"date", "server"}]
        start_response(f"{resp.status_code} {resp.reason}", out)
        return _Relay(resp)


def _chunks(stream):
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


class _Sized:
    """A request body of known length handed on in chunks (requests then sends Content-Length)."""

    def __init__(self, stream, length: int):
        self._stream, self._length = stream, length

    def __len__(self) -> int:
        return self._length

    def __iter__(self):
        return _chunks(self._stream)


class _Relay:
    """The backend's answer, streamed; closes the backend response when the server is done with it."""

    def __init__(self, resp: requests.Response):
        self.resp = resp

    def __iter__(self):
        yield from self.resp.raw.stream(CHUNK, decode_content=False)

    def close(self) -> None:
        self.resp.close()
