"""The Harbor push library's own Go semantics, without a network: token cache, challenge and scope
parsing, url.Values encoding, Link parsing and isTarget."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.harbor_push import go_values_encode, parse_challenge, parse_scopes, with_query
from tests.harbor_push.auth import BearerAuthorizer, RegistryAuthorizer, response_challenges
from tests.harbor_push.client import next_link, parse_content_range
from tests.harbor_push.wire import HARBOR_USER_AGENT


class FakeTransport:
    """Answers every request with the next canned (status, headers, body)."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def send(self, method, url, headers, *, purpose, **kw):
        self.calls.append(SimpleNamespace(method=method, url=url, headers=headers, purpose=purpose))
        status, hdrs, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return SimpleNamespace(status=status, body=body, header_list=lambda name: hdrs.get(name, []))


def token_answer(issued_at=None, expires_in=300, token="t"):
    doc = {"token": token, "expires_in": expires_in}
    if issued_at is not None:
        doc["issued_at"] = issued_at
    return (200, {}, json.dumps(doc).encode())


def now_rfc3339(delta: float = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetches(transport) -> int:
    return sum(1 for c in transport.calls if c.purpose == "token")


def test_token_is_reused_per_scope_while_it_has_more_than_10_seconds_left():
    transport = FakeTransport(token_answer(now_rfc3339()))
    bearer = BearerAuthorizer("http://r/auth", "svc", "u", "p", transport)
    for _ in range(3):
        assert bearer.header("HEAD", "http://r/v2/org/app/manifests/v1") == ("Authorization", "Bearer t")
    bearer.header("GET", "http://r/v2/org/app/blobs/sha256:" + "a" * 64)  # same scope: pull
    assert fetches(transport) == 1
    bearer.header("PUT", "http://r/v2/org/app/manifests/v1")  # pull,push: another scope set
    assert fetches(transport) == 2


@pytest.mark.parametrize("issued_at,expires_in", [
    (None, 300),                        # no issued_at: Harbor refreshes for every request
    ("2030-01-01 10:00:00", 300),       # not RFC 3339
    (now_rfc3339(), 10),                # expires_in - 10s latency leaves nothing
    (now_rfc3339(-400), 300),           # issued long ago
])
def test_token_is_fetched_again_when_issued_at_does_not_allow_reuse(issued_at, expires_in):
    transport = FakeTransport(token_answer(issued_at, expires_in))
    bearer = BearerAuthorizer("http://r/auth", "svc", "u", "p", transport)
    for _ in range(3):
        bearer.header("HEAD", "http://r/v2/org/app/manifests/v1")
    assert fetches(transport) == 3


def test_token_request_is_encoded_like_url_values_with_basic_and_user_agent():
    transport = FakeTransport(token_answer(now_rfc3339()))
    BearerAuthorizer("http://r/auth?z=1&a=x y", "dockyard", "eu-de@AK", "key", transport).header(
        "POST", "http://r/v2/org/a/b/blobs/uploads/?from=org/src")
    call = transport.calls[0]
    assert call.url == ("http://r/auth?a=x+y&scope=repository%3Aorg%2Fsrc%3Apull"
                        "&scope=repository%3Aorg%2Fa%2Fb%3Apull%2Cpush&service=dockyard&z=1")
    assert ("User-Agent", HARBOR_USER_AGENT) in call.headers
    assert ("Authorization", "Basic ZXUtZGVAQUs6a2V5") in call.headers


def test_empty_access_key_sends_no_basic():
    transport = FakeTransport(token_answer(now_rfc3339()))
    BearerAuthorizer("http://r/auth", "", "", "", transport).header("GET", "http://r/v2/a/b/tags/list")
    assert not [h for h in transport.calls[0].headers if h[0] == "Authorization"]
    assert transport.calls[0].url == "http://r/auth?scope=repository%3Aa%2Fb%3Apull&service="


@pytest.mark.parametrize("method,url,scopes", [
    ("HEAD", "http://r/v2/org/app/manifests/v1", ["repository:org/app:pull"]),
    ("GET", "http://r/v2/org/app/manifests/sha256:" + "0" * 64, ["repository:org/app:pull"]),
    ("PATCH", "http://r/v2/org/app/blobs/uploads/gAAAAB-x_y==", ["repository:org/app:pull,push"]),
    ("GET", "http://r/v2/org/app/blobs/uploads/gAAAAB-x_y==?digest=sha256%3Aab", ["repository:org/app:pull"]),
    ("DELETE", "http://r/v2/org/app/manifests/sha256:" + "0" * 64, ["repository:org/app:*"]),
    ("GET", "http://r/v2/org/app/tags/list", ["repository:org/app:pull"]),
    ("GET", "http://r/v2/_catalog?n=1000", ["registry:catalog:*"]),
    ("GET", "http://r/v2/", []),
])
def test_scopes_follow_harbors_parser(method, url, scopes):
    assert parse_scopes(method, url) == scopes


def test_scope_parsing_stays_fast_on_long_names():
    import time

    started = time.monotonic()
    parse_scopes("GET", "http://r/v2/" + "a" * 200 + "!/manifests/v1")
    assert time.monotonic() - started < 0.5


def test_challenges_are_read_from_a_401_only_and_lower_cased():
    header = 'Bearer realm="https://swr.example/swr/auth/v2/registry/auth/",service="dockyard",scope="repository:a/b:"'
    challenge = parse_challenge(header)
    assert challenge.scheme == "bearer" and challenge.parameters == {
        "realm": "https://swr.example/swr/auth/v2/registry/auth/", "service": "dockyard", "scope": "repository:a/b:"}
    assert parse_challenge('BASIC Realm="x"').parameters == {"realm": "x"}
    assert response_challenges(200, [header]) == []
    assert [c.scheme for c in response_challenges(401, [header, 'Basic realm="x"'])] == ["bearer", "basic"]


def test_credentials_only_go_to_the_probed_registry():
    challenge = {"WWW-Authenticate": ['Bearer realm="http://r/auth",service="s"']}
    transport = FakeTransport((401, challenge, b""), token_answer(now_rfc3339()))
    auth = RegistryAuthorizer("u", "p", transport)
    assert auth.header("HEAD", "http://r/prefix/v2/org/app/manifests/v1")[1].startswith("Bearer ")
    assert transport.calls[0].url == "http://r/prefix/v2/" and transport.calls[0].headers == [
        ("User-Agent", HARBOR_USER_AGENT)]
    assert auth.header("GET", "http://other/prefix/v2/org/app/manifests/v1") is None
    assert auth.header("GET", "http://r/v2/org/app/manifests/v1") is None  # prefix differs
    assert auth.header("GET", "https://r/prefix/v2/org/app/manifests/v1") is None  # scheme differs


def test_no_challenge_means_credentials_are_never_sent():
    transport = FakeTransport((200, {}, b"{}"))
    auth = RegistryAuthorizer("u", "p", transport)
    assert auth.header("HEAD", "http://r/v2/org/app/manifests/v1") is None
    assert auth.scheme == "none" and len(transport.calls) == 1


def test_upload_url_query_is_reencoded_sorted_and_relative_locations_get_the_registry_url():
    location = "/v2/org/app/blobs/uploads/uuid?_state=ab+c%3D%3D&a=1"
    assert with_query("https://r:5000", location, {"digest": "sha256:ff"}) == (
        "https://r:5000/v2/org/app/blobs/uploads/uuid?_state=ab+c%3D%3D&a=1&digest=sha256%3Aff")
    assert with_query("https://r", "https://s/v2/x/blobs/uploads/u", {}) == "https://s/v2/x/blobs/uploads/u"
    assert go_values_encode([("b", "~ /:"), ("a", "2"), ("a", "1")]) == "a=2&a=1&b=~+%2F%3A"


def test_link_and_range_parsing():
    assert next_link('</v2/_catalog?last=a%2Fb&n=2>; rel="next"') == "/v2/_catalog?last=a%2Fb&n=2"
    assert next_link('<http://r/v2/x>; rel="prev" , <http://r/v2/y>; rel="next"') == "http://r/v2/y"
    assert next_link(None) == ""
    assert parse_content_range("0-1048575") == (0, 1048575)
    with pytest.raises(ValueError):
        parse_content_range("bytes 0-1/2")
