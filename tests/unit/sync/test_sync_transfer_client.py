"""RegistryClient against a scripted session (the HTTP boundary): challenge kinds, Basic and anonymous
access, tokens fetched once under concurrency, the 401 replay; and Remote's mount fallback."""

from __future__ import annotations

import base64
import contextlib
import io
import threading
import time

import pytest
import requests

from adapter.sync.errors import CopyError
from adapter.sync.remote import Remote
from adapter.transfer.client import RegistryClient, TransferError


def response(status: int, headers=None, body: bytes = b"") -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content, resp._content_consumed, resp.raw = status, body, True, io.BytesIO(body)
    resp.headers.update(headers or {})
    return resp


class Scripted:
    """Answers by a function of (method, url, kwargs); records every call."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []
        self._lock = threading.Lock()

    def request(self, method, url, **kwargs):
        with self._lock:
            self.calls.append((method, url, kwargs))
        return self.answer(method, url, kwargs)


BEARER = {"WWW-Authenticate": 'Bearer realm="http://reg.test/token",service="reg"'}


def test_bearer_registry_tokens_per_scope_fetched_once_by_concurrent_callers():
    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(401, BEARER)
        if url.startswith("http://reg.test/token"):
            time.sleep(0.05)
            return response(200, body=b'{"token": "T", "expires_in": 300}')
        return response(200 if kw["headers"].get("Authorization") == "Bearer T" else 401)

    session = Scripted(answer)
    client = RegistryClient("http://reg.test", session, name="reg.test")
    threads = [threading.Thread(target=client.request, args=(("u", "p"), "GET", "/v2/a/tags/list",
                                                              ["repository:a:pull"])) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    token_calls = [c for c in session.calls if "/token" in c[1]]
    assert len(token_calls) == 1 and token_calls[0][2]["auth"] == ("u", "p")
    assert len([c for c in session.calls if c[1].endswith("/v2/")]) == 1  # one challenge discovery
    assert client.scheme == "bearer" and client.token_hits >= 1


def test_basic_and_anonymous_registries():
    basic = Scripted(lambda m, u, kw: response(401, {"WWW-Authenticate": 'Basic realm="x"'}) if u.endswith("/v2/")
                     else response(200))
    client = RegistryClient("http://b.test", basic)
    client.request(("user", "pw"), "GET", "/v2/a/manifests/1", ["repository:a:pull"])
    sent = basic.calls[-1][2]["headers"]["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"user:pw").decode() and client.scheme == "basic"

    anonymous = Scripted(lambda m, u, kw: response(200))
    client = RegistryClient("http://n.test", anonymous)
    client.request(None, "GET", "/v2/a/manifests/1", ["repository:a:pull"])
    assert "Authorization" not in anonymous.calls[-1][2]["headers"] and client.scheme == "none"


def test_a_401_is_replayed_once_with_a_fresh_token():
    tokens = iter(["old", "new"])

    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(401, BEARER)
        if "/token" in url:
            return response(200, body=('{"token": "%s"}' % next(tokens)).encode())
        return response(200 if kw["headers"]["Authorization"] == "Bearer new" else 401)

    client = RegistryClient("http://reg.test", Scripted(answer))
    assert client.request(None, "GET", "/v2/a/blobs/x", ["repository:a:pull"]).status_code == 200


def test_a_403_is_replayed_once_with_a_fresh_token_and_then_answered():
    """A token cached before the organization existed is denied; one issued now is not."""
    tokens, sent = iter(["before", "after", "b1", "b2"]), []

    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(401, BEARER)
        if "/token" in url:
            return response(200, body=('{"token": "%s"}' % next(tokens)).encode())
        sent.append(kw["headers"]["Authorization"])
        return response(200 if kw["headers"]["Authorization"] == "Bearer after" else 403)

    client = RegistryClient("http://reg.test", Scripted(answer))
    assert client.request(None, "HEAD", "/v2/a/manifests/1", ["repository:a:pull"]).status_code == 200
    assert sent == ["Bearer before", "Bearer after"]
    assert client.request(None, "HEAD", "/v2/b/manifests/1", ["repository:b:pull"]).status_code == 403
    assert sent[2:] == ["Bearer b1", "Bearer b2"]  # a real denial: one replay, then the 403


def test_connection_failures_and_odd_challenges_become_transfer_errors():
    def refuse(method, url, kw):
        raise requests.ConnectionError("Connection refused")

    with pytest.raises(TransferError) as err:
        RegistryClient("http://down.test", Scripted(refuse), name="down.test").challenge()
    assert err.value.code == "UPSTREAM_UNREACHABLE" and err.value.message == "down.test registry is unreachable"
    with pytest.raises(TransferError, match="answered 500 to GET /v2/"):
        RegistryClient("http://odd.test", Scripted(lambda m, u, kw: response(500))).challenge()
    with pytest.raises(TransferError, match="not configured"):
        RegistryClient("http://a.test", Scripted(lambda m, u, kw: response(200)), allowed_hosts=set()).url(
            "http://elsewhere.test/v2/")


@pytest.mark.parametrize("mount_status,expected_posts", [(201, 1), (202, 1), (404, 2), (500, 2)])
def test_a_mount_falls_back_on_anything_but_201(mount_status, expected_posts):
    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(200)
        if (kw.get("params") or {}).get("mount"):
            return response(mount_status, {"Location": "/v2/org/app/blobs/uploads/m1"} if mount_status == 202 else {})
        return response(202, {"Location": "/v2/org/app/blobs/uploads/u1"})

    session = Scripted(answer)
    remote = Remote("dst.test", RegistryClient("http://dst.test", session), None)
    location = remote.start_upload("org/app", "sha256:" + "a" * 64, "org/other")
    assert len([c for c in session.calls if c[0] == "POST"]) == expected_posts
    assert location == {201: None, 202: "/v2/org/app/blobs/uploads/m1"}.get(mount_status, "/v2/org/app/blobs/uploads/u1")


def test_remote_errors_say_what_failed_and_whether_to_retry():
    body = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'
    remote = Remote("dst.test", RegistryClient("http://dst.test", Scripted(
        lambda m, u, kw: response(200) if u.endswith("/v2/") else response(403, body=body))), None)
    with pytest.raises(CopyError) as err:
        remote.put_manifest("org/app", "v1", b"{}", "application/vnd.oci.image.manifest.v1+json")
    assert str(err.value) == "put manifest dst.test/org/app:v1: 403 DENIED: requested access to the resource is denied"
    assert err.value.retryable is False
    busy = Remote("dst.test", RegistryClient("http://dst.test", Scripted(
        lambda m, u, kw: response(200) if u.endswith("/v2/") else response(503, body=b"busy"))), None)
    with pytest.raises(CopyError) as err:
        busy.digest("org/app", "v1")
    assert err.value.retryable is True


def test_layer_seats_are_per_tenant_and_shared_by_its_entries():
    """--swr-layers seats go by the tenant's AK: two auth entries of one AK (two projects) share them, another
    AK and a registry that is not SWR have their own (none)."""
    from adapter.sync.errors import Leniency
    from adapter.sync.files import auth_from
    from adapter.sync.remote import Remotes

    ak, other = "A" * 20, "B" * 20
    entry = {"access_key": ak, "secret_key": "s" * 40, "api": "https://swr-api.test"}
    accounts = auth_from({"swr.test/one": {**entry, "project": "eu-de"},
                          "swr.test/two": {**entry, "project": "eu-de_app"},
                          "swr.test/three": {**entry, "access_key": other, "project": "eu-de"},
                          "plain.test": {"username": "u", "password": "p"}}, "auth", Leniency())
    remotes = Remotes(accounts, requests.Session(), swr_layers=2)
    one, two, three = (remotes.get("swr.test", f"{r}/x") for r in ("one", "two", "three"))
    assert one.layers is two.layers and one.layers is not three.layers
    with one.layers, two.layers:
        assert not one.layers.acquire(blocking=False)  # the AK's 2 seats, whichever entry took them
        assert three.layers.acquire(blocking=False)
        three.layers.release()
    assert isinstance(remotes.get("plain.test", "x").layers, contextlib.nullcontext)  # not SWR: no seats


def test_an_https_registry_that_points_at_plain_http_is_refused():
    """An upload URL or token realm on http:// from an HTTPS registry would carry the token or the
    credentials in clear: refused (not retried), whoever sent it; an HTTP registry's own URLs pass."""
    tls = RegistryClient("https://reg.test", None, name="reg.test", allowed_hosts=set())
    assert tls.url("https://reg.test/v2/a/blobs/uploads/1?_state=x") == "https://reg.test/v2/a/blobs/uploads/1?_state=x"
    for url in ("http://reg.test/v2/a/blobs/uploads/1", "HTTP://reg.test/v2/", "ftp://reg.test/x"):
        with pytest.raises(TransferError, match="refused, the credentials would go unencrypted") as err:
            tls.url(url)
        assert err.value.code == "UPSTREAM_ERROR" and err.value.transient is False
    assert RegistryClient("http://plain.test", None).url("http://plain.test/v2/x") == "http://plain.test/v2/x"
    downgrade = {"WWW-Authenticate": 'Bearer realm="http://reg.test/token",service="reg"'}
    session = Scripted(lambda m, u, kw: response(401, downgrade))
    with pytest.raises(TransferError, match="http://reg.test from HTTPS"):
        RegistryClient("https://reg.test", session, name="reg.test").challenge()
    assert [c[1] for c in session.calls] == ["https://reg.test/v2/"]  # no credentials went to the realm


def test_a_storage_redirect_is_followed_to_plain_http_without_credentials():
    """A source on HTTPS may keep its blobs behind plain HTTP storage (a pre-signed URL): the redirect is
    the source's choice and carries none of our credentials, so it is followed, unlike an upload URL."""
    class Storage(Scripted):
        def get(self, url, **kwargs):
            self.calls.append(("GET-redirect", url, kwargs))
            return response(200, {"Content-Length": "4"}, b"blob")

    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(200)
        return response(307, {"Location": "http://storage.test/b/1?X-Sig=abc"})

    session = Storage(answer)
    remote = Remote("src.test", RegistryClient("https://src.test", session), None)
    body = remote.open_blob("org/app", "sha256:" + "b" * 64)
    assert body.length == 4 and body.resp.status_code == 200
    method, url, kwargs = session.calls[-1]
    assert (method, url) == ("GET-redirect", "http://storage.test/b/1?X-Sig=abc")
    assert "headers" not in kwargs and "auth" not in kwargs


def test_a_tag_list_page_on_plain_http_from_https_fails_as_a_copy_error():
    """The next page of a tag list carries the token: on http:// from HTTPS it is refused, and the refusal
    is the sync's own error (not retried), not an exception from below."""
    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(200)
        return response(200, {"Link": '<http://src.test/v2/org/app/tags/list?n=1000&last=a>; rel="next"'},
                        b'{"tags": ["a"]}')

    remote = Remote("src.test", RegistryClient("https://src.test", Scripted(answer)), None)
    with pytest.raises(CopyError, match="from HTTPS: refused") as err:
        remote.tags("org/app")
    assert err.value.retryable is False
