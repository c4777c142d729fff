"""The /v2 routes are Flask routes: the name is everything before the last fixed segment, each route asks
the scope of its action, and what no route serves is an OCI error (before any authentication)."""

from __future__ import annotations

import pytest

from adapter import create_app


@pytest.fixture(scope="module")
def client():
    return create_app({}).test_client()


def _scope(resp) -> str:
    assert resp.status_code == 401
    return resp.headers["WWW-Authenticate"].split('scope="')[1].rstrip('"')


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push"),
    ("POST", "/v2/team/app/blobs/uploads", "repository:team/app:pull,push"),  # no redirect
    ("GET", "/v2/team/app/blobs/uploads/tok", "repository:team/app:pull"),
    ("PATCH", "/v2/team/app/blobs/uploads/tok", "repository:team/app:pull,push"),
    ("HEAD", "/v2/a/b/c/blobs/sha256:" + "0" * 64, "repository:a/b/c:pull"),
    ("DELETE", "/v2/a/blobs/sha256:" + "0" * 64, "repository:a:delete"),
    ("GET", "/v2/a/manifests/b/manifests/v1", "repository:a/manifests/b:pull"),
    ("PUT", "/v2/team/app/manifests/v1", "repository:team/app:pull,push"),
    ("GET", "/v2/team/app/tags/list", "repository:team/app:pull"),
    ("GET", "/v2/team/app/referrers/sha256:" + "0" * 64, "repository:team/app:pull"),
])
def test_each_route_asks_for_its_scope(client, method, path, scope):
    resp = client.open(path, method=method)
    assert _scope(resp) == scope
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_an_unknown_route_is_name_unknown(client):
    resp = client.get("/v2/team/app/nothing/here")
    assert resp.status_code == 404 and resp.get_json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_a_method_no_route_takes_is_unsupported(client):
    resp = client.post("/v2/team/app/manifests/v1")
    assert resp.status_code == 405 and resp.get_json()["errors"][0]["code"] == "UNSUPPORTED"
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}


def test_a_trailing_slash_is_not_a_reference(client):
    assert client.get("/v2/team/app/manifests/v1/").status_code == 404
