"""The one HTTP session of the sync and the endpoint: requests.Session with a shorter path for plain calls.

A no-op re-sync is some 400 small requests (tags, manifest reads and checks), a push through the
endpoint some 25 calls to SWR per image, and most of their CPU went into Session.request merging
settings nobody set (session params, proxies, hooks, an empty cookie jar, the environment) and
parsing and requoting URLs we built ourselves. When there is nothing to merge, `request()` prepares the request
itself and hands it to the connection adapter: same pooled connections, TLS verification, timeouts
and response objects, and the CA bundle from REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE as requests would take
it. A redirect to follow is handed to requests' own (public) resolve_redirects, as Session.send does.
Anything else (proxies or ~/.netrc from the environment, cookies, files, json, hooks, session-wide auth or
cert) takes requests' own path unchanged. Only public requests API is used.
A URL that requests would parse and requote into itself (lower-case http(s), a plain host name or
IPv4 address, and only characters it neither quotes nor unquotes) is taken as it is, with plain
string params urlencoded and appended as requests appends them; any other goes through prepare_url.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from time import perf_counter
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

from adapter.transfer.transport import LeanAdapter

# No fragment, no userinfo, no IPv6 brackets, no empty query, %-escapes only of reserved characters
# (requests unquotes the others): a URL of this shape comes out of prepare_url unchanged.
_PLAIN_URL = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9._~/:@!$&'()*+,;=%-]*"
                        r"(?:\?[A-Za-z0-9._~/:@!$&'()*+,;=?%-]+)?")
_ESCAPE = re.compile(r"%(?:[0-9A-Fa-f]{2})?")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _kept(url: str) -> bool:
    """True when requests would leave the URL as it is: its shape, and every %-escape well formed, in
    upper case (urllib3 raises the case) and of a character requests does not unquote."""
    if not _PLAIN_URL.fullmatch(url):
        return False
    return "%" not in url or all(len(e) == 3 and e.upper() == e and chr(int(e[1:], 16)) not in _UNRESERVED
                                 for e in _ESCAPE.findall(url))


def _ca_bundle(verify):
    """verify=True means the CA bundle the environment names, as requests reads it when it trusts the
    environment: a TLS-inspecting proxy's CA in REQUESTS_CA_BUNDLE keeps working on this path too."""
    if verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return verify


def _plain_params(params) -> list[tuple[str, str]] | None:
    """params as (name, value) pairs when they are plain strings (None: not plain, let requests encode)."""
    pairs = list(params.items()) if isinstance(params, dict) else params
    if isinstance(pairs, list) and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                                       and isinstance(p[1], str) for p in pairs):
        return pairs
    return None


def prepare_url(prep: PreparedRequest, url: str, params) -> bool:
    """What prep.prepare_url(url, params) does, without parsing and requoting a URL that stays as it is;
    True when it was taken as it is (it then has no user name or password in it either)."""
    pairs = [] if params is None else _plain_params(params)
    if pairs is None or not _kept(url):
        prep.prepare_url(url, params)
        return False
    prep.url = f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}" if pairs else url
    return True


class LeanSession(requests.Session):
    def _plain(self, cookies, files, hooks, proxies, cert, json) -> bool:
        return not (self.trust_env or cookies or files or hooks or proxies or cert
                    or json is not None or self.auth or self.cert or self.proxies or self.params
                    or any(self.hooks.values()) or len(self.cookies))

    def request(self, method, url, params=None, data=None, headers=None, cookies=None, files=None, auth=None,
                timeout=None, allow_redirects=True, proxies=None, hooks=None, stream=None, verify=None,
                cert=None, json=None):
        if not isinstance(url, str) or not self._plain(cookies, files, hooks, proxies, cert, json):
            return super().request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                   files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                   proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert,
                                   json=json)
        merged = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        for name in [k for k, v in merged.items() if v is None]:
            del merged[name]
        prep = PreparedRequest()
        prep.prepare_method(method)
        kept = prepare_url(prep, url, params)
        prep.prepare_headers(merged)
        prep.prepare_body(data, None, None)
        if auth is not None or not kept:  # a URL taken as it is carries no credentials to look for
            prep.prepare_auth(auth, url)
        prep.prepare_hooks(None)
        stream = self.stream if stream is None else stream
        settings = {"stream": stream, "timeout": timeout, "cert": None, "proxies": {},
                    "verify": _ca_bundle(self.verify if verify is None else verify)}
        start = perf_counter()
        resp = self.get_adapter(prep.url).send(prep, **settings)
        resp.elapsed = timedelta(seconds=perf_counter() - start)
        if resp.cookies:  # kept as requests would; later calls then take its path
            self.cookies.update(resp.cookies)
        if allow_redirects and resp.is_redirect:  # rare (the SWR API calls allow them): follow as Session.send does
            prep.prepare_cookies(None)  # the empty jar resolve_redirects carries each hop's cookies in
            history = [resp, *self.resolve_redirects(resp, prep, **settings)]
            resp = history.pop()
            resp.history = history
        if not stream:
            resp.content  # noqa: B018 - read now, as requests does
        return resp


def pooled_session(pool_size: int, idle_per_host: int | None = None, hosts: int = 4) -> LeanSession:
    """A LeanSession over the lean transport, with `pool_size` connections per host for what it hands
    to urllib3 (streamed bodies and downloads) and `idle_per_host` kept for the calls read whole."""
    session = LeanSession()
    fallback = HTTPAdapter(pool_connections=hosts, pool_maxsize=pool_size)
    adapter = LeanAdapter(fallback) if idle_per_host is None else LeanAdapter(fallback, idle_per_host=idle_per_host)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
