"""The sync's HTTP session: requests.Session with a shorter path for the plain calls the sync makes.

A no-op re-sync is some 400 small requests (tags, manifest reads and checks), and most of its CPU
went into Session.request merging settings nobody set (session params, proxies, hooks, an empty
cookie jar, the environment). When there is nothing to merge, `request()` prepares the request
itself and hands it to the connection adapter: same pooled connections, TLS verification, timeouts
and response objects, and the CA bundle from REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE as requests would take
it. A redirect to follow is handed to requests' own (public) resolve_redirects, as Session.send does.
Anything else (proxies or ~/.netrc from the environment, cookies, files, json, hooks, session-wide auth or
cert) takes requests' own path unchanged. Only public requests API is used.
"""

from __future__ import annotations

import os
from datetime import timedelta
from time import perf_counter

import requests
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict


def _ca_bundle(verify):
    """verify=True means the CA bundle the environment names, as requests reads it when it trusts the
    environment: a TLS-inspecting proxy's CA in REQUESTS_CA_BUNDLE keeps working on this path too."""
    if verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return verify


class SyncSession(requests.Session):
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
        prep.prepare_url(url, params)
        prep.prepare_headers(merged)
        prep.prepare_body(data, None, None)
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
