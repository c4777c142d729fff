"""One Registry V2 host: challenge discovery, bearer tokens per scope, one replay on 401, error mapping.

Credentials are passed per call, because the endpoint serves many principals through one client:
`(username, password)` or None (anonymous), or whatever a subclass turns into that with `creds_of()`. The registry's /v2/ answer decides how they are used:
a Bearer challenge sends them to the token realm, a Basic challenge sends them with every request,
and a 200 means no authentication at all.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import threading
import time
from urllib.parse import urljoin, urlsplit

import requests

from adapter.transfer.auth import TokenCache, parse_challenge
from adapter.transfer.blacklist import BLACKLIST_MESSAGE, BLACKLIST_SECONDS, Holds, is_blacklisted
from adapter.transfer.errors import TransferError, unresolved, upstream_error

__all__ = ["Creds", "RegistryClient", "TransferError"]

Creds = tuple[str, str] | None
log = logging.getLogger(__name__)


def basic_authorization(username: str, password: str) -> str:
    """The Basic Authorization header value (UTF-8, as registries read it)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class RegistryClient:
    """A registry host for many callers; `name` words the errors ("SWR registry timed out").

    With `allowed_hosts`, every URL (the token realm included) must be on one of those hosts (no SSRF).
    With `bearer_only`, a registry that does not offer a Bearer challenge is an error.
    An account that SWR's blacklist refused is held for `blacklist_hold` seconds (adapter/transfer/blacklist.py):
    its calls fail at once, unsent.
    """

    error_class: type[Exception] = TransferError

    def __init__(self, base_url: str, session: requests.Session, *, name: str = "registry",
                 timeout: float = 30.0, verify=True, allowed_hosts=None, bearer_only: bool = False,
                 blacklist_hold: float = BLACKLIST_SECONDS):
        self.base = base_url.rstrip("/")
        self.name, self.session, self.timeout, self.verify = name, session, timeout, verify
        self.allowed_hosts = None if allowed_hosts is None else set(allowed_hosts) | {urlsplit(self.base).netloc}
        self.bearer_only = bearer_only
        self.pacer = None  # a limits.Pacer: requests spaced to a rate (the sync pauses it on Retry-After)
        self.scheme: str | None = None  # "bearer", "basic" or "none" once discovered
        self._challenge: tuple[str, str] | None = None
        self._challenge_lock = threading.Lock()
        self.tokens = TokenCache()
        self.holds = Holds(blacklist_hold)

    @property
    def token_hits(self) -> int:
        return self.tokens.hits

    # --- hooks (the endpoint counts these in its metrics) --------------------------------------
    def on_token(self, hit: bool) -> None:
        """Called on every token look-up."""

    def on_error(self, kind: str) -> None:
        """Called when a call fails: timeout, unreachable, protocol or http_5xx."""

    def on_blacklist(self, user: str, held: bool) -> None:
        """Called when a hold on `user` starts (SWR's blacklist answered) and when a call finds it ended."""
        if held:
            log.warning("%s blacklisted %s (%r): its calls fail unsent for %.0f s", self.name, user,
                        BLACKLIST_MESSAGE, self.holds.seconds)
        else:
            log.warning("the hold on %s after %s's blacklist has ended: its calls go to %s again", user,
                        self.name, self.name)

    def creds_of(self, who) -> Creds:
        """The (username, password) of a caller; callers here are such pairs already."""
        return who

    def fail(self, code: str, message: str, status: int) -> Exception:
        return self.error_class(code, message, status=status)

    # --- urls -----------------------------------------------------------------------------------
    def resolve(self, path_or_url: str) -> str:
        """A path (or a URL) the registry sent, as an absolute URL, unchecked: for what carries none of
        our credentials (a storage redirect), or what url() checks later."""
        return urljoin(self.base + "/", path_or_url)

    def url(self, path_or_url: str) -> str:
        """An absolute URL on this registry; with allowed_hosts, refuses hosts not listed (no SSRF), and
        from an HTTPS registry refuses plain HTTP (an upload URL or token realm that would carry the
        credentials unencrypted: a proxy that forgot X-Forwarded-Proto, or worse)."""
        url = self.resolve(path_or_url)
        parts = urlsplit(url)
        if self.allowed_hosts is not None and parts.netloc not in self.allowed_hosts:
            raise self.fail("UPSTREAM_ERROR", "upstream pointed at a host that is not configured", 502)
        if parts.scheme != "https" and self.base.startswith("https://"):
            err = self.fail("UPSTREAM_ERROR", f"{self.name} registry pointed at {parts.scheme}://{parts.netloc} "
                            "from HTTPS: refused, the credentials would go unencrypted", 502)
            err.transient = False
            raise err
        return url

    # --- auth -----------------------------------------------------------------------------------
    def challenge(self) -> tuple[str, str]:
        """(realm, service) of the registry's Bearer challenge; ("", "") for Basic or no auth."""
        if self._challenge is None:
            with self._challenge_lock:
                if self._challenge is None:
                    self._discover()
        return self._challenge

    def _discover(self) -> None:
        resp = self._send("GET", self.base + "/v2/", headers={}, stream=False)
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if resp.status_code == 401 and scheme == "bearer" and "realm" in params:
            self.url(params["realm"])  # the realm must be an allowed host too
            self.scheme, self._challenge = "bearer", (params["realm"], params.get("service", ""))
        elif self.bearer_only:
            raise self.fail("UPSTREAM_ERROR", f"{self.name} registry did not offer a Bearer challenge", 502)
        elif resp.status_code in (200, 401) and scheme in ("basic", ""):
            self.scheme, self._challenge = ("basic" if resp.status_code == 401 else "none"), ("", "")
        else:
            raise self.fail("UPSTREAM_ERROR", f"{self.name} answered {resp.status_code} to GET /v2/", 502)

    def fetch_token(self, who, scopes: list[str]) -> requests.Response:
        realm, service = self.challenge()
        params = [("service", service)] + [("scope", s) for s in scopes]
        return self._send("GET", realm, params=params, auth=self.creds_of(who), headers={}, stream=False)

    def login(self, who) -> bool:
        """True when the token service accepts the credentials (a token request without scope)."""
        self._check_hold(who)
        resp = self.fetch_token(who, [])
        self._check_blacklist(who, resp)
        if resp.status_code in (401, 403):
            return False
        if resp.status_code != 200:
            raise self.fail("UPSTREAM_ERROR", f"{self.name} token service answered {resp.status_code}", 502)
        return True

    def _key(self, who, scopes: list[str]) -> str:
        return hashlib.sha256("\0".join([*(self.creds_of(who) or ("", "")), *scopes]).encode()).hexdigest()

    def token(self, who, scopes: list[str], fresh: bool = False, also: tuple[list[str], ...] = ()) -> str:
        """A bearer token for these scopes, cached; concurrent callers of one key fetch it once. A fetched
        token is cached for the scope lists in `also` too (scopes it covers, e.g. pull under pull,push)."""
        key = self._key(who, scopes)
        if fresh:
            self.on_token(False)
            return self._fetch(who, scopes, [key, *(self._key(who, s) for s in also)])
        cached = self.tokens.get(key)
        if cached is None:
            with self.tokens.fetching(key):
                cached = self.tokens.get(key)  # another thread may have fetched it meanwhile
                if cached is None:
                    self.on_token(False)
                    return self._fetch(who, scopes, [key, *(self._key(who, s) for s in also)])
        self.on_token(True)
        return cached

    def prefetch(self, who, scopes: list[str]) -> None:
        """One token for many scopes, cached for each of them: what later calls with one scope will use.

        A token that turns out not to cover a scope costs that call its 401 replay, nothing more.
        """
        if scopes and self.challenge() and self.scheme == "bearer":
            self._fetch(who, scopes, [self._key(who, [scope]) for scope in scopes])

    def _fetch(self, who, scopes: list[str], keys: list[str]) -> str:
        self._check_hold(who)
        resp = self.fetch_token(who, scopes)
        self._check_blacklist(who, resp)
        if resp.status_code in (401, 403):  # the words of the refusal say why ("Image organization does not exist")
            said = upstream_error(resp.status_code, resp.content).message if resp.content else f"{resp.status_code}"
            raise self.fail("UNAUTHORIZED", f"{self.name} refused the token request ({said})", 401)
        if resp.status_code != 200:
            raise self.fail("UPSTREAM_ERROR", f"{self.name} token service answered {resp.status_code}", 502)
        data = resp.json()
        token = data.get("token") or data.get("access_token") or ""
        for key in keys:
            self.tokens.put(key, token, data.get("expires_in"))
        return token

    def authorization(self, who, scopes: list[str], fresh: bool = False) -> str | None:
        """The Authorization header value for a call with these scopes (None: send none)."""
        self.challenge()
        if self.scheme == "bearer":
            return f"Bearer {self.token(who, scopes, fresh)}"
        creds = self.creds_of(who)
        if self.scheme == "basic" and creds:
            return basic_authorization(*creds)
        return None

    # --- requests -------------------------------------------------------------------------------
    def request(self, who, method: str, path_or_url: str, scopes: list[str], *,
                headers=None, data=None, params=None, stream=True, replayable=True) -> requests.Response:
        """Sends with the right Authorization; a 401 gets one replay with a fresh token, and so does a 403:
        a cached token may predate the repository's organization (made meanwhile by another transfer), and
        a registry grants a token only the access that existed when it was issued."""
        url = self.url(path_or_url)
        self._check_hold(who)
        hdrs = dict(headers or {})
        auth = self.authorization(who, scopes)
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send(method, url, headers=hdrs, data=data, params=params, stream=stream)
        if resp.status_code in (401, 403) and replayable and self.scheme == "bearer":
            resp.close()
            hdrs["Authorization"] = self.authorization(who, scopes, fresh=True)
            resp = self._send(method, url, headers=hdrs, data=data, params=params, stream=stream)
        if resp.status_code in (401, 403) and not stream:  # a streamed answer's body is the caller's to read
            self._check_blacklist(who, resp)
        return resp

    # --- SWR's blacklist --------------------------------------------------------------------------
    def _check_blacklist(self, who, resp: requests.Response) -> None:
        """Raises when the answer is SWR's blacklist refusal, and holds the account from now on."""
        if not is_blacklisted(resp.status_code, resp.content):
            return
        user = self._user(who)
        if self.holds.seconds and self.holds.start(user):
            self.on_blacklist(user, True)
        raise self._held_error(user, self.holds.left(user) or 0.0)

    def _check_hold(self, who) -> None:
        if not self.holds:  # the common case: one check per call, the caller's name not even looked up
            return
        user = self._user(who)
        left = self.holds.left(user)
        if left:
            raise self._held_error(user, left)
        if left == 0.0:
            self.on_blacklist(user, False)

    def _user(self, who) -> str:
        creds = self.creds_of(who)
        return creds[0] if creds else ""

    def _held_error(self, user: str, left: float) -> Exception:
        then = "try again in 30 minutes"
        if left:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + left))
            then = f"nothing more is sent for this account until {until} (in {math.ceil(left / 60)} min)"
        err = self.fail("TOOMANYREQUESTS", f"{self.name} has blacklisted {user or 'the anonymous caller'} "
                        f"({BLACKLIST_MESSAGE!r}), as it does for 30 minutes after too many logins or "
                        f"concurrent uploads; {then}", 429)
        err.transient, err.retry_after = False, left or BLACKLIST_SECONDS
        return err

    def _send(self, method, url, *, headers, data=None, params=None, stream=True, auth=None):
        if self.pacer is not None:
            self.pacer.wait()
        try:
            resp = self.session.request(method, url, headers=headers, data=data, params=params, stream=stream,
                                        auth=auth, timeout=(5, self.timeout), verify=self.verify,
                                        allow_redirects=False)
        except requests.Timeout:
            self.on_error("timeout")
            raise self.fail("UPSTREAM_TIMEOUT", f"{self.name} registry timed out", 504) from None
        except requests.ConnectionError as exc:
            self.on_error("unreachable")
            if unresolved(exc):
                err = self.fail("UPSTREAM_UNREACHABLE", f"{self.name} registry is unreachable: the host name "
                                f"{urlsplit(url).hostname} does not resolve (not retried)", 502)
                err.transient = False
                raise err from None
            raise self.fail("UPSTREAM_UNREACHABLE", f"{self.name} registry is unreachable", 502) from None
        except requests.RequestException as exc:
            self.on_error("protocol")
            raise self.fail("UPSTREAM_ERROR", f"request to {self.name} failed: {type(exc).__name__}", 502) from None
        if resp.status_code >= 500:
            self.on_error("http_5xx")
        return resp
