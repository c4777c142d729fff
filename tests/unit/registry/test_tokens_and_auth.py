"""Sealed tokens, scope parsing, Basic parsing, grants and upstream challenge parsing."""

import base64
import time

import pytest

from adapter.config import load_data
from adapter.registry.auth import Authenticator, Grant, parse_basic, parse_scope
from adapter.registry.errors import RegistryError, upstream_error
from adapter.registry.tokens import TokenBox
from adapter.registry.upstream import parse_challenge
from adapter.swr.principal import Principal

SK = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
AID = "eu-de@ABCDEFGHIJKLMNOPQRST"


def test_token_roundtrip_and_purpose_separation():
    box = TokenBox("k" * 32)
    token = box.seal("upload", {"u": "http://x/v2/a"}, ttl=60)
    assert box.open("upload", token)["u"] == "http://x/v2/a"
    assert box.open("bearer", token) is None  # an upload token is not a bearer token


def test_token_tampered_foreign_and_expired_are_refused():
    box = TokenBox("k" * 32)
    token = box.seal("upload", {"a": 1}, ttl=60)
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    assert box.open("upload", tampered) is None
    assert TokenBox("z" * 32).open("upload", token) is None
    expired = box.seal("upload", {"a": 1}, ttl=-1)
    assert box.open("upload", expired) is None
    assert box.open("upload", "not-a-token") is None


def test_short_instance_key_is_refused():
    with pytest.raises(ValueError, match="16"):
        TokenBox("short")


@pytest.mark.parametrize("scope,expected", [
    ("repository:org/app:pull,push", ("repository", "org/app", frozenset({"pull", "push"}))),
    ("repository:a/b/c:*", ("repository", "a/b/c", frozenset({"*"}))),
    ("registry:catalog:*", ("registry", "catalog", frozenset({"*"}))),
])
def test_parse_scope(scope, expected):
    assert parse_scope(scope) == expected


@pytest.mark.parametrize("scope", ["repository:app", "user:x:pull", "repository:app:fly", ":x:pull"])
def test_parse_scope_rejects(scope):
    with pytest.raises(RegistryError) as err:
        parse_scope(scope)
    assert err.value.status == 400 and scope in err.value.message


def test_parse_basic():
    header = "Basic " + base64.b64encode(f"{AID}:{SK}".encode()).decode()
    assert parse_basic(header) == (AID, SK)
    assert parse_basic("Bearer x") is None
    with pytest.raises(RegistryError):
        parse_basic("Basic !!!notbase64")
    with pytest.raises(RegistryError, match=":"):
        parse_basic("Basic " + base64.b64encode(b"nocolon").decode())


def test_grant_checks_name_and_action():
    principal = Principal(AID, SK)
    grant = Grant(principal, (("repository", "lib/app", frozenset({"pull"})),))
    assert grant.allows("repository", "lib/app", "pull")
    assert not grant.allows("repository", "lib/app", "push")
    assert not grant.allows("repository", "lib/other", "pull")
    assert Grant(principal, None).allows("repository", "anything", "delete")


def test_principal_never_shows_secret_and_derives_login_key():
    principal = Principal(AID, SK)
    assert SK not in repr(principal)
    assert principal.password == "75350cd86c753806d9ac6a72e65c26b919ed5697326f468dee9095af59d24aae"
    assert principal.sk == SK
    assert Principal(AID, principal.password).sk is None


def _auth(login_result=True, calls=None):
    config = load_data({"credentials": {"cache_seconds": 60}})
    def login(p):
        if calls is not None:
            calls.append(p.access_id)
        return login_result
    return Authenticator(config, TokenBox("k" * 32), login)


def test_passthrough_login_is_cached_and_bearer_carries_scopes():
    calls = []
    auth = _auth(True, calls)
    principal = auth.check_basic(AID, SK)
    auth.check_basic(AID, SK)
    assert calls == [AID]  # second check served from the cache
    issued = auth.issue(principal, ["repository:lib/app:pull,push"])
    assert issued["issued_at"].endswith("Z") and issued["expires_in"] == 900
    assert issued["token"] == issued["access_token"]
    grant = auth.authenticate("Bearer " + issued["token"])
    assert grant.principal.access_id == AID
    assert grant.allows("repository", "lib/app", "push")
    assert not grant.allows("repository", "lib/other", "pull")


def test_a_bearer_token_sent_again_is_not_opened_again_until_it_expires(monkeypatch):
    auth = _auth(True)
    token = auth.issue(auth.check_basic(AID, SK), ["repository:lib/app:pull,push"])["token"]
    first = auth.authenticate("Bearer " + token)
    opened = []
    monkeypatch.setattr(auth.box, "open", lambda purpose, text: opened.append(text))  # would refuse every token
    assert auth.authenticate("Bearer " + token) is first and opened == []
    with pytest.raises(RegistryError, match="expired|invalid"):  # another text is opened, never matched loosely
        auth.authenticate("Bearer " + token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    later = time.time() + auth.ttl + 1
    monkeypatch.setattr("adapter.registry.auth.time.time", lambda: later)
    with pytest.raises(RegistryError, match="expired|invalid"):
        auth.authenticate("Bearer " + token)
    assert len(opened) == 2


def test_passthrough_refusals():
    auth = _auth(False)
    with pytest.raises(RegistryError, match="refused"):
        auth.check_basic(AID, SK)
    with pytest.raises(RegistryError, match="AK"):
        auth.check_basic("eu-de@lower", SK)
    with pytest.raises(RegistryError, match="expired|invalid"):
        auth.authenticate("Bearer garbage")
    with pytest.raises(RegistryError) as err:
        auth.authenticate(None)
    assert err.value.status == 401


def test_pinned_mode_compares_client_password(monkeypatch):
    monkeypatch.setenv("PIN_SK", SK)
    monkeypatch.setenv("PIN_PW", "client-password-1")
    config = load_data({"credentials": {"mode": "pinned", "pinned": {
        "access_id": AID, "secret_key_env": "PIN_SK",
        "clients": [{"username": "harbor", "password_env": "PIN_PW"}]}}})
    auth = Authenticator(config, TokenBox("k" * 32), lambda p: pytest.fail("pinned mode must not log in"))
    assert auth.check_basic("harbor", "client-password-1").sk == SK
    for user, pw in [("harbor", "wrong"), ("nobody", "client-password-1")]:
        with pytest.raises(RegistryError):
            auth.check_basic(user, pw)
    token = auth.issue(auth.check_basic("harbor", "client-password-1"), [])["token"]
    assert SK not in token  # pinned tokens never carry the SK


def test_parse_challenge():
    scheme, params = parse_challenge(
        'Bearer realm="https://swr.eu-de.otc.t-systems.com/swr/auth/v2/registry/auth/",service="dockyard",'
        'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://swr.eu-de.otc.t-systems.com/swr/auth/v2/registry/auth/",
                      "service": "dockyard", "scope": "repository:a/b:pull,push"}


@pytest.mark.parametrize("status,body,code,out_status", [
    (404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', "MANIFEST_UNKNOWN", 404),
    (401, b'{"errors":[{"errorCode":"SVCSTG.SWR.4010000","errorMessage":"Authenticate Error"}]}',
     "SVCSTG.SWR.4010000", 401),
    (400, b'{"error_code":"APIGW.0301","error_msg":"bad sig"}', "APIGW.0301", 400),
    (503, b"busy", "UPSTREAM_ERROR", 502),
    (403, b"<html>nope</html>", "DENIED", 403),
])
def test_upstream_error_keeps_codes(status, body, code, out_status):
    err = upstream_error(status, body, "application/json")
    assert (err.code, err.status) == (code, out_status)


def test_token_expiry_is_enforced(monkeypatch):
    box = TokenBox("k" * 32)
    token = box.seal("bearer", {"x": 1}, ttl=10)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 11)
    assert box.open("bearer", token) is None
