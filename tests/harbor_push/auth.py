"""Harbor's registry authorizer (src/pkg/registry/auth): the /v2/ probe, challenge parsing, and the
basic, bearer and null authorizers with the bearer token cache."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from tests.harbor_push.wire import HARBOR_USER_AGENT, Transport, go_parse_query, go_values_encode

TOKEN_LATENCY = 10  # seconds; cache.go treats a token as expired this long before it really is
CACHE_CAPACITY = 100

_TOKEN_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class AuthError(Exception):
    """The probe or the token service failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b""):
        super().__init__(message)
        self.status, self.body = status, body


@dataclass(frozen=True)
class Challenge:
    scheme: str
    parameters: dict[str, str]


def _expect_token(s: str) -> tuple[str, str]:
    i = 0
    while i < len(s) and s[i] in _TOKEN_CHARS:
        i += 1
    return s[:i], s[i:]


def _expect_token_or_quoted(s: str) -> tuple[str, str]:
    if not s.startswith('"'):
        return _expect_token(s)
    out, i = [], 1
    while i < len(s):
        ch = s[i]
        if ch == '"':
            return "".join(out), s[i + 1:]
        if ch == "\\" and i + 1 < len(s):
            i += 1
            ch = s[i]
        out.append(ch)
        i += 1
    return "", ""


def parse_challenge(header: str) -> Challenge | None:
    """docker/distribution's parseValueAndParams: one challenge per WWW-Authenticate line, scheme and
    parameter names lower-cased; parsing stops at the first malformed parameter."""
    scheme, rest = _expect_token(header)
    if not scheme:
        return None
    params: dict[str, str] = {}
    rest = "," + rest.lstrip(" \t")
    while rest.startswith(","):
        key, rest = _expect_token(rest[1:].lstrip(" \t"))
        if not key or not rest.startswith("="):
            break
        value, rest = _expect_token_or_quoted(rest[1:])
        if not value:
            break
        params[key.lower()] = value
        rest = rest.lstrip(" \t")
    return Challenge(scheme.lower(), params)


def response_challenges(status: int, headers: list[str]) -> list[Challenge]:
    """challenge.ResponseChallenges: challenges are read only from a 401."""
    if status != 401:
        return []
    return [c for c in map(parse_challenge, headers) if c is not None]


def basic_header(username: str, password: str) -> tuple[str, str] | None:
    """basic.NewAuthorizer: the header only when the username is non-empty."""
    if not username:
        return None
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return ("Authorization", f"Basic {raw}")


def is_rfc3339(value) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _parse_rfc3339(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- scopes (bearer/scope.go) --------------------------------------------------------------------

# distribution's separator is `(?:[._]|__|[-]*)`; an empty one adds nothing, and leaving it out keeps
# Python's backtracking engine linear where RE2 is.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_CATALOG_RE = re.compile(r"/v2/_catalog$")
_TAG_RE = re.compile(rf"/v2/({_NAME})/tags/list")
_MANIFEST_RE = re.compile(rf"/v2/({_NAME})/manifests/({_TAG}|{_DIGEST})")
_BLOB_RE = re.compile(rf"/v2/({_NAME})/blobs/{_DIGEST}")
_UPLOAD_RE = re.compile(rf"/v2/({_NAME})/blobs/uploads")
_REFERRERS_RE = re.compile(rf"/v2/({_NAME})/referrers/({_DIGEST})")


def parse_scopes(method: str, url: str) -> list[str]:
    """The scopes Harbor asks for, from the request path and method (parseScopes)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    scopes: list[str] = []
    repository = ""
    for pattern in (_MANIFEST_RE, _BLOB_RE, _UPLOAD_RE, _TAG_RE, _REFERRERS_RE):
        match = pattern.search(path)
        if match:
            repository = match.group(1)
            if pattern is _UPLOAD_RE:
                source = next((v for k, v in go_parse_query(parts.query) if k == "from"), "")
                if source:
                    scopes.append(f"repository:{source}:pull")
            break
    if repository:
        actions = {"GET": "pull", "HEAD": "pull", "POST": "pull,push", "PUT": "pull,push",
                   "PATCH": "pull,push", "DELETE": "*"}.get(method, "")
        scopes.append(f"repository:{repository}:{actions}")
        return scopes
    if _CATALOG_RE.search(path):
        return ["registry:catalog:*"]
    return []


# --- authorizers --------------------------------------------------------------------------------

@dataclass
class Token:
    token: str
    expires_in: int
    issued_at: str
    fetched: float

    def expired(self, now: float | None = None) -> bool:
        """cache.go: no or unparsable issued_at means expired; else issued_at + expires_in - 10s."""
        if not self.issued_at or not is_rfc3339(self.issued_at):
            return True
        expire_at = _parse_rfc3339(self.issued_at) + self.expires_in - TOKEN_LATENCY
        return expire_at < (now if now is not None else time.time())


class BearerAuthorizer:
    """bearer.NewAuthorizer: one token per joined scope set, reused while not expired."""

    def __init__(self, realm: str, service: str, username: str, password: str, transport: Transport,
                 purpose: str = "token"):
        self.realm, self.service = realm, service
        self.username, self.password = username, password
        self.transport, self.purpose = transport, purpose
        self._cache: dict[str, Token] = {}
        self._lock = threading.Lock()

    def header(self, method: str, url: str) -> tuple[str, str] | None:
        scopes = parse_scopes(method, url)
        key = "#".join(scopes)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or cached.expired():
            cached = self._fetch(scopes)
            with self._lock:
                if len(self._cache) >= CACHE_CAPACITY:
                    self._evict()
                self._cache[key] = cached
        return ("Authorization", f"Bearer {cached.token}") if cached.token else None

    def _evict(self) -> None:
        expired = [k for k, t in self._cache.items() if t.expired()]
        if not expired and self._cache:
            expired = [min(self._cache, key=lambda k: _parse_rfc3339(self._cache[k].issued_at))]
        for key in expired:
            del self._cache[key]

    def token_url(self, scopes: list[str]) -> str:
        parts = urlsplit(self.realm)
        pairs = go_parse_query(parts.query) + [("service", self.service)] + [("scope", s) for s in scopes]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, go_values_encode(pairs), parts.fragment))

    def _fetch(self, scopes: list[str]) -> Token:
        headers = [("User-Agent", HARBOR_USER_AGENT)]
        auth = basic_header(self.username, self.password)
        if auth:
            headers.append(auth)
        resp = self.transport.send("GET", self.token_url(scopes), headers, purpose=self.purpose)
        if resp.status != 200:
            raise AuthError(f"http status code: {resp.status}, body: {resp.body[:500]!r}", resp.status, resp.body)
        try:
            doc = json.loads(resp.body)
        except ValueError as exc:
            raise AuthError(f"token response is not JSON: {exc}", resp.status, resp.body) from None
        if not isinstance(doc, dict):
            raise AuthError("token response is not a JSON object", resp.status, resp.body)
        token = doc.get("token") or doc.get("access_token") or ""
        expires_in = doc.get("expires_in") or 0
        issued_at = doc.get("issued_at") or ""
        if not isinstance(token, str) or not isinstance(expires_in, int) or not isinstance(issued_at, str):
            raise AuthError("token response has fields of the wrong JSON type", resp.status, resp.body)
        return Token(token, expires_in, issued_at, time.time())


class RegistryAuthorizer:
    """auth.NewAuthorizer: on the first request, probes `<scheme>://<host>[<prefix>]/v2/` without
    credentials and picks bearer, basic or none from the 401 challenge; afterwards it adds credentials
    only to requests aimed at that registry (isTarget)."""

    def __init__(self, username: str, password: str, transport: Transport, *, probe_prefix: bool = True):
        self.username, self.password, self.transport = username, password, transport
        self.probe_prefix = probe_prefix  # v2.15.2 probes <scheme>://<host>/v2/ whatever the path
        self.scheme: str | None = None  # "bearer" | "basic" | "none" once probed
        self.bearer: BearerAuthorizer | None = None
        self.probe_url: str | None = None
        self._lock = threading.Lock()

    def _initialize(self, url: str) -> None:
        with self._lock:
            if self.scheme is not None:
                return
            parts = urlsplit(url)
            index = parts.path.find("/v2/")
            prefix = parts.path[:index] if index > 0 and self.probe_prefix else ""
            probe = f"{parts.scheme}://{parts.netloc}{prefix}/v2/"
            resp = self.transport.send("GET", probe, [("User-Agent", HARBOR_USER_AGENT)], purpose="probe")
            self.probe_url = probe
            challenges = response_challenges(resp.status, resp.header_list("WWW-Authenticate"))
            schemes = {c.scheme: c for c in challenges}
            if not challenges:
                self.scheme = "none"
            elif "bearer" in schemes:
                params = schemes["bearer"].parameters
                self.bearer = BearerAuthorizer(params.get("realm", ""), params.get("service", ""),
                                               self.username, self.password, self.transport)
                self.scheme = "bearer"
            elif "basic" in schemes:
                self.scheme = "basic"
            else:
                raise AuthError(f"unsupported auth scheme: {[c.scheme for c in challenges]}")

    def _is_target(self, url: str) -> bool:
        parts, probe = urlsplit(url), urlsplit(self.probe_url or "")
        index = parts.path.find("/v2/")
        if index == -1:
            return False
        return (parts.netloc == probe.netloc and parts.scheme == probe.scheme
                and parts.path[:index + 4] == probe.path)

    def header(self, method: str, url: str) -> tuple[str, str] | None:
        if self.scheme is None:
            self._initialize(url)
        if not self._is_target(url):
            return None
        if self.scheme == "bearer":
            return self.bearer.header(method, url)
        if self.scheme == "basic":
            return basic_header(self.username, self.password)
        return None
