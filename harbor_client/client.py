"""HarborClient: one requests.Session, one `_request()` choke point, no cookies, bounded retries."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from harbor_client.errors import HarborError, HarborUnreachable, error_from_response
from harbor_client.pagination import Pages
from harbor_client.resources import (
    ExecutionsResource,
    ProjectsResource,
    RegistriesResource,
    ReplicationPoliciesResource,
    SystemResource,
    WebhookPoliciesResource,
)
from harbor_client.units import http_url_problem, retry_after
from harbor_client.versions import HarborVersion, check_fields, gated_fields, parse_version

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2.0"
DEFAULT_TIMEOUT = (3.05, 30)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# POST is left out on purpose: a retried create may create twice, a retried start may replicate twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class HarborBasicAuth(HTTPBasicAuth):
    """Basic auth for users and robot accounts (`robot$name`); its repr never shows the password."""

    def __repr__(self) -> str:
        return f"HarborBasicAuth(username={self.username!r}, password='***')"


def _no_cookies() -> DefaultCookiePolicy:
    # Harbor sets sid/_gorilla_csrf cookies; sending one back turns every write into a CSRF 403.
    return DefaultCookiePolicy(allowed_domains=[])


def _env_verify(value: str | None) -> bool | str:
    if value is None or value.strip().lower() in ("", "1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    if not os.path.isfile(value):  # requests would fail on it at the first call, with a traceback
        raise HarborError(f"HARBOR_VERIFY: expected true, false or a CA bundle file, got {value[:200]!r}")
    return value  # a CA bundle path, as requests takes it


def _env_url(value: str) -> str:
    """HARBOR_URL as an http(s) base URL; one requests cannot parse, or one with a password, is refused here
    rather than in a traceback or an error line that would print it."""
    value = value.strip()
    problem = http_url_problem(value)
    if problem == "form":
        raise HarborError("HARBOR_URL: expected http(s)://host[:port] (e.g. https://harbor.example.com)")
    if problem == "password":
        raise HarborError("HARBOR_URL must not carry a password: use HARBOR_USERNAME and HARBOR_PASSWORD")
    return value


class HarborClient:
    """A client for Harbor's /api/v2.0 with typed resources as attributes.

    Args:
        url: Harbor's address, e.g. ``https://harbor.example.com`` (``/api/v2.0`` is added if missing).
        auth: ``(username, password)`` (robot accounts as ``("robot$name", secret)``) or any requests auth.
        session: a Session to use; one is created (and closed by ``close()``) when not given. Either way
            its cookie policy is set to accept none.
        timeout: requests' ``(connect, read)`` seconds, applied to every call.
        verify: TLS verification, or a CA bundle path.
        retries: extra attempts for idempotent calls answered 429/502/503/504.
        backoff: first wait in seconds, doubled per attempt; a longer Retry-After wins.
        max_wait: a Retry-After beyond this many seconds is not waited for; the error is raised.
        sleep: the wait function (tests pass a recorder).
        harbor_version: skip the /systeminfo lookup used for version gating.
    """

    def __init__(self, url: str, auth: tuple[str, str] | AuthBase | None, *, session: requests.Session | None = None,
                 timeout: Any = DEFAULT_TIMEOUT, verify: bool | str = True, retries: int = 3, backoff: float = 0.5,
                 max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 harbor_version: str | None = None):
        base = url.rstrip("/")
        self.base_url = base if base.endswith(API_PREFIX) else base + API_PREFIX
        self.auth = HarborBasicAuth(*auth) if isinstance(auth, tuple) else auth
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.session.cookies.set_policy(_no_cookies())
        self.session.cookies.clear()  # an injected session may already hold a Harbor sid
        self.timeout, self.verify = timeout, verify
        self.retries, self.backoff, self.max_wait, self._sleep = retries, backoff, max_wait, sleep
        self._version: HarborVersion | None = parse_version(harbor_version)
        self._version_known = harbor_version is not None
        self.system = SystemResource(self)
        self.projects = ProjectsResource(self)
        self.registries = RegistriesResource(self)
        self.replication_policies = ReplicationPoliciesResource(self)
        self.executions = ExecutionsResource(self)
        self.webhook_policies = WebhookPoliciesResource(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> HarborClient:
        """Build from HARBOR_URL, HARBOR_USERNAME, HARBOR_PASSWORD and HARBOR_VERIFY (true/false/CA path)."""
        env = os.environ if environ is None else environ
        if not env.get("HARBOR_URL"):
            raise HarborError("HARBOR_URL is not set (e.g. https://harbor.example.com)")
        user, password = env.get("HARBOR_USERNAME"), env.get("HARBOR_PASSWORD")
        if bool(user) != bool(password):
            raise HarborError("set both HARBOR_USERNAME and HARBOR_PASSWORD, or neither")
        url = _env_url(env["HARBOR_URL"])
        kwargs.setdefault("verify", _env_verify(env.get("HARBOR_VERIFY")))
        return cls(url, (user, password) if user else None, **kwargs)

    def __repr__(self) -> str:
        return f"HarborClient({self.base_url!r}, auth={self.auth!r})"

    def __enter__(self) -> HarborClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self.session.close()

    # --- the choke point -------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                 headers: Mapping[str, str] | None = None, accept: str = "application/json") -> requests.Response:
        """Send one API call (with retries when safe); return the 2xx response or raise a HarborError."""
        method, url = method.upper(), self.base_url + path
        request_id = uuid.uuid4().hex
        sent = {"X-Request-Id": request_id, "Accept": accept, **(headers or {})}
        for attempt in range(self.retries + 1):
            response = self._send(method, url, params, json, sent)
            wait = self._retry_wait(method, response, attempt)
            if wait is None:
                break
            log.info("%s %s -> %s, retrying in %.1fs (request id %s)", method, path, response.status_code,
                     wait, request_id)
            self._sleep(wait)
        log.debug("%s %s -> %s (request id %s)", method, path, response.status_code, request_id)
        if response.status_code >= 400:
            raise error_from_response(response, request_id)
        return response

    def _send(self, method: str, url: str, params: Any, json: Any, headers: dict[str, str]) -> requests.Response:
        try:
            return self.session.request(method, url, params=params, json=json, headers=headers, auth=self.auth,
                                        timeout=self.timeout, verify=self.verify, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise HarborUnreachable(method, url, str(exc), headers["X-Request-Id"]) from exc

    def _retry_wait(self, method: str, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to stop here."""
        if method not in IDEMPOTENT_METHODS or response.status_code not in RETRY_STATUSES:
            return None
        if attempt >= self.retries:
            return None
        wait = max(self.backoff * 2**attempt, retry_after(response.headers.get("Retry-After")) or 0.0)
        return wait if wait <= self.max_wait else None

    # --- thin verbs used by the resources --------------------------------------------------------

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self._request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self._request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self._request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self._request("DELETE", path, **kwargs)

    def pages(self, path: str, params: dict[str, Any], load: Callable[[Any], Any],
              headers: Mapping[str, str] | None = None) -> Pages:
        """Every item of a list endpoint, page by page."""
        return Pages(lambda p: self.get(path, params=p, headers=headers), params, load)

    @staticmethod
    def created_id(response: requests.Response) -> int:
        """The id at the end of a 201's Location header (`/api/v2.0/registries/7` -> 7)."""
        location = response.headers.get("Location", "")
        tail = location.rstrip("/").rsplit("/", 1)[-1]
        if not tail.isdigit():
            raise HarborError(f"{response.request.method} {response.url}: no id in Location {location!r}")
        return int(tail)

    @staticmethod
    def segment(value: Any) -> str:
        """A value made safe for one path segment."""
        return quote(str(value), safe="")

    # --- version gating --------------------------------------------------------------------------

    @property
    def harbor_version(self) -> HarborVersion | None:
        """Harbor's version from /systeminfo, fetched once (None if Harbor does not say)."""
        if not self._version_known:
            self._version = self.system.info().version
            self._version_known = True
        return self._version

    def check_version(self, definition: str, body: dict[str, Any]) -> dict[str, Any]:
        """Raise UnsupportedByHarborVersion for a gated field this Harbor predates; return the body."""
        # Only a body with a gated field set costs the /systeminfo lookup.
        if gated_fields(definition, body):
            check_fields(definition, body, self.harbor_version)
        return body
