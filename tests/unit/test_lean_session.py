"""LeanSession's short path sends exactly what requests.Session would, and steps aside when it cannot."""

import http.client
import io

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.cookies import MockRequest, MockResponse
from requests.models import PreparedRequest

from adapter.transfer.session import LeanSession


class Capture(BaseAdapter):
    def __init__(self, headers=None):
        super().__init__()
        self.sent, self.kwargs, self.headers = [], [], headers or {}

    def send(self, request, **kwargs):
        self.sent.append(request)
        self.kwargs.append(kwargs)
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = 200, request, request.url
        resp.headers = requests.structures.CaseInsensitiveDict(self.headers)
        resp.raw = io.BytesIO(b"{}")
        message = http.client.HTTPMessage()
        for name, value in self.headers.items():
            message[name] = value
        resp.raw._original_response = type("Original", (), {"msg": message})()  # where requests.Session reads them
        resp.cookies.extract_cookies(MockResponse(message), MockRequest(request))  # as HTTPAdapter does
        return resp

    def close(self):
        pass


def sent_by(session_class, call, **attrs):
    session = session_class()
    session.trust_env = False
    for name, value in attrs.items():
        setattr(session, name, value)
    adapter = Capture()
    session.mount("http://", adapter)
    resp = call(session)
    [prep] = adapter.sent
    body = prep.body if not hasattr(prep.body, "read") else "stream"
    return (prep.method, prep.url, dict(prep.headers), body, adapter.kwargs[0]), resp


CALLS = [
    lambda s: s.request("HEAD", "http://reg.test/v2/a/b/manifests/v1", headers={"Accept": "x, y"},
                        stream=False, timeout=(5, 30), verify=True, allow_redirects=False),
    lambda s: s.request("PUT", "http://reg.test/v2/a/b/blobs/uploads/x?_state=1", params={"digest": "sha256:ab"},
                        data=b"data", headers={"Content-Type": "application/octet-stream", "Authorization": "B t"},
                        stream=False, timeout=(5, 30), verify=False, allow_redirects=False),
    lambda s: s.request("GET", "http://reg.test/token", params=[("service", "s"), ("scope", "a"), ("scope", "b")],
                        auth=("u", "p"), headers={}, stream=False, timeout=(5, 30), allow_redirects=False),
    lambda s: s.request("POST", "http://reg.test/v2/a/b/blobs/uploads/", params={"mount": "sha256:x", "from": "c/d"},
                        headers={"X": None}, stream=False, timeout=(5, 30), allow_redirects=False),
    lambda s: s.request("GET", "http://reg.test/v2/a/b/blobs/sha256:x", stream=True, timeout=(5, 30),
                        allow_redirects=False),
    lambda s: s.request("PUT", "http://reg.test/up", data=io.BytesIO(b"12345"), stream=False, timeout=3,
                        allow_redirects=False),
]
# URLs and params requests changes on their way (or that are near ones it does): the short path must agree.
ODD_URLS = [
    ("http://reg.test/v2/a%2Fb/tags/list", None), ("http://reg.test/v2/%7Euser/x", None),
    ("http://REG.test/v2/x", None), ("HTTP://reg.test/v2/x", None), ("http://reg.test/v2/x?", None),
    ("http://reg.test/v2/a b", None), ("http://reg.test/v2/x#frag", None), ("http://reg.test", None),
    ("http://127.0.0.1:5000/v2/", {"n": "1"}), ("http://reg.test/v2/x?a=1", [("b", "2"), ("b", "3")]),
    ("http://reg.test/v2/x", {"n": 5}), ("http://reg.test/v2/x", {"scope": "repository:ä/b:pull,push"}),
    ("http://reg.test/v2/x", {"empty": ""}), ("http://reg.test/v2/x", []), ("http://reg.test/v2/ü", None),
    ("http://[::1]:5000/v2/", None), ("http://u:p@reg.test/v2/", None), ("http://reg.test/v2/x;p=1?q=[1]", None),
    ("http://reg.test/v2/x?s=a%3D%3d", None), ("http://reg.test/v2/x?s=a%4", None), ("http://reg.test/v2/a%41", None),
    ("http://reg.test/v2/x%", None), ("http://reg.test/v2/%2e%2E/y", None),
]
CALLS += [lambda s, url=url, params=params: s.request("GET", url, params=params, stream=False, timeout=3,
                                                      allow_redirects=False) for url, params in ODD_URLS]


@pytest.mark.parametrize("call", CALLS)
def test_the_short_path_sends_what_requests_sends(call, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    ours, resp = sent_by(LeanSession, call)
    theirs, _ = sent_by(requests.Session, call)
    assert ours[:4] == theirs[:4]
    assert {k: ours[4][k] for k in ("stream", "timeout", "verify", "cert")} == \
           {k: theirs[4][k] for k in ("stream", "timeout", "verify", "cert")}
    assert resp.status_code == 200 and resp.request.url == ours[1]


def test_the_urls_a_push_is_made_of_are_not_parsed_again(monkeypatch):
    def refuse(*args):
        raise AssertionError("prepare_url was called")

    monkeypatch.setattr(PreparedRequest, "prepare_url", refuse)
    for url, params in [("http://127.0.0.1:5000/v2/org/a/b/blobs/uploads/", None),
                        ("http://swr.eu-de.otc.t-systems.com/v2/org/b/blobs/uploads/9f-2a?_state=aB_c%3D", None),
                        ("http://swr.eu-de.otc.t-systems.com/swr/auth/v2/registry/auth/",
                         [("service", "dockyard"), ("scope", "repository:org/a/b:pull,push")])]:
        sent_by(LeanSession, lambda s, url=url, params=params: s.request("GET", url, params=params, stream=False))
    with pytest.raises(AssertionError):  # a %-escape goes the long way (requests may unquote it)
        sent_by(LeanSession, lambda s: s.request("GET", "http://reg.test/v2/a%7Eb", stream=False))


HEADER_CASES = [
    ({"User-Agent": "ua", "Accept": "*/*"}, {"accept": "x", "X-A": "1"}),
    ({"User-Agent": "ua", "X-Drop": "s"}, {"x-drop": None, "User-Agent": None}),
    ({"X-Session-None": None, "Keep": "k"}, {"x-session-none": "back"}),
    ({"Accept-Encoding": "gzip"}, {b"X-Bytes": "b", "Content-Type": b"application/octet-stream"}),
    ({}, None),
]


@pytest.mark.parametrize(("session_headers", "headers"), HEADER_CASES)
def test_session_and_call_headers_merge_as_requests_merges_them(session_headers, headers):
    call = lambda s: s.request("PATCH", "http://reg.test/v2/a/blobs/uploads/x", headers=headers, data=b"1",  # noqa: E731
                               stream=False, timeout=3, allow_redirects=False)
    ours, _ = sent_by(LeanSession, call, headers=requests.structures.CaseInsensitiveDict(session_headers))
    theirs, _ = sent_by(requests.Session, call, headers=requests.structures.CaseInsensitiveDict(session_headers))
    assert ours[2] == theirs[2] and list(ours[2]) == list(theirs[2])  # values and the names' case


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", " leading", "trailing\n"])
def test_a_header_requests_refuses_is_refused_on_the_short_path_too(value):
    with pytest.raises(requests.exceptions.InvalidHeader):
        sent_by(LeanSession, lambda s: s.request("GET", "http://reg.test/v2/", headers={"X-Bad": value},
                                                  stream=False))


def test_credentials_are_looked_for_only_in_urls_not_taken_as_they_are(monkeypatch):
    looked = []
    original = PreparedRequest.prepare_auth
    monkeypatch.setattr(PreparedRequest, "prepare_auth", lambda self, auth, url="": (looked.append(url),
                                                                                     original(self, auth, url)))
    sent_by(LeanSession, lambda s: s.request("GET", "http://reg.test/v2/a/b/manifests/v1", stream=False))
    assert looked == []
    (_, _, headers, _, _), _ = sent_by(LeanSession, lambda s: s.request("GET", "http://u:p@reg.test/v2/",
                                                                        stream=False))
    assert headers["Authorization"] == requests.auth._basic_auth_str("u", "p")
    (_, _, headers, _, _), _ = sent_by(LeanSession, lambda s: s.request("GET", "http://reg.test/v2/", auth=("a", "b"),
                                                                        stream=False))
    assert headers["Authorization"] == requests.auth._basic_auth_str("a", "b")
    assert looked == ["http://u:p@reg.test/v2/", "http://reg.test/v2/"]


def test_it_steps_aside_for_what_it_does_not_handle():
    session = LeanSession()
    session.trust_env = False
    plain = dict(cookies=None, files=None, hooks=None, proxies=None, cert=None, json=None)
    assert session._plain(**plain)
    assert not session._plain(**{**plain, "json": {}})
    assert not session._plain(**{**plain, "proxies": {"http": "http://proxy"}})
    session.trust_env = True  # the environment's proxies and ~/.netrc: requests reads them
    assert not session._plain(**plain)
    session.trust_env = False
    session.cookies.set("k", "v", domain="reg.test")
    assert not session._plain(**plain)


@pytest.mark.parametrize("session_class", [LeanSession, requests.Session])
def test_cookies_a_registry_sets_are_kept_and_sent_back(session_class):
    session = session_class()
    session.trust_env = False
    adapter = Capture({"Set-Cookie": "lb=one; Path=/"})
    session.mount("http://", adapter)
    session.request("GET", "http://reg.test/v2/", stream=False, allow_redirects=False)
    session.request("GET", "http://reg.test/v2/", stream=False, allow_redirects=False)
    assert "Cookie" not in adapter.sent[0].headers
    assert adapter.sent[1].headers["Cookie"] == "lb=one"


@pytest.mark.parametrize(("env", "verify", "expected"), [
    ({"REQUESTS_CA_BUNDLE": "/ca/requests.pem", "CURL_CA_BUNDLE": "/ca/curl.pem"}, None, "/ca/requests.pem"),
    ({"CURL_CA_BUNDLE": "/ca/curl.pem"}, True, "/ca/curl.pem"),
    ({"REQUESTS_CA_BUNDLE": "/ca/requests.pem"}, False, False),  # verify off stays off
    ({"REQUESTS_CA_BUNDLE": "/ca/requests.pem"}, "/ca/mine.pem", "/ca/mine.pem"),  # an explicit bundle wins
    ({}, None, True),
])
def test_the_environments_ca_bundle_is_used_as_requests_would(env, verify, expected, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (_, _, _, _, kwargs), _ = sent_by(LeanSession, lambda s: s.request(
        "GET", "http://reg.test/v2/", stream=False, verify=verify, allow_redirects=False))
    assert kwargs["verify"] == expected


class Redirecting(Capture):
    """302 from /old to `location` (the same host's /new unless told); 200 elsewhere."""

    def __init__(self, location="/new"):
        super().__init__()
        self.location = location

    def send(self, request, **kwargs):
        resp = super().send(request, **kwargs)
        if request.url.endswith("/old"):
            resp.status_code, resp.headers["Location"] = 302, self.location
        return resp


@pytest.mark.parametrize("session_class", [LeanSession, requests.Session])
def test_a_redirect_is_followed_as_requests_follows_it(session_class):
    session = session_class()
    session.trust_env = False
    adapter = Redirecting()
    session.mount("http://", adapter)
    resp = session.request("GET", "http://api.test/old", auth=("u", "p"), stream=False, timeout=3)
    assert [p.url for p in adapter.sent] == ["http://api.test/old", "http://api.test/new"]
    assert resp.status_code == 200 and resp.url == "http://api.test/new"
    assert [r.status_code for r in resp.history] == [302]
    assert "Authorization" in adapter.sent[1].headers  # same host: requests keeps the credentials
    assert session.request("GET", "http://api.test/old", stream=False, allow_redirects=False).status_code == 302


def test_a_call_that_may_follow_redirects_still_takes_the_short_path(monkeypatch):
    """The SWR API's calls leave allow_redirects on: requests' Session.request stays out unless one comes."""
    session = LeanSession()
    session.trust_env = False
    session.mount("http://", Capture())
    monkeypatch.setattr(requests.Session, "prepare_request", lambda *a, **k: pytest.fail("requests' long path"))
    assert session.request("GET", "http://api.test/v2/manage/namespaces", stream=False, timeout=3).status_code == 200


@pytest.mark.parametrize("session_class", [LeanSession, requests.Session])
def test_a_redirect_to_another_host_drops_the_credentials(session_class):
    session = session_class()
    session.trust_env = False
    adapter = Redirecting("http://elsewhere.test/new")
    session.mount("http://", adapter)
    resp = session.request("GET", "http://api.test/old", auth=("u", "p"), stream=False, timeout=3)
    assert [p.url for p in adapter.sent] == ["http://api.test/old", "http://elsewhere.test/new"]
    assert "Authorization" in adapter.sent[0].headers and "Authorization" not in adapter.sent[1].headers
    assert resp.status_code == 200 and [r.status_code for r in resp.history] == [302]
