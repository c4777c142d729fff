"""The hostile-traffic table, rows answered by the app itself (in process, against a real sandbox):
2 unbounded metrics, 5 deep JSON, 6 manifest media types, 7 an upload's DELETE, 8 Content-Range,
9 the token realm and 10 tags and digests on every route."""

import json
import random
import string

import pytest
from prometheus_client import REGISTRY, generate_latest

from adapter import create_app, metrics
from adapter.config import load_data
from adapter.transfer.oci import sha256_digest as digest_of
from tests.integration.relay.helpers import basic, bearer, start_upload

INSTANCE_KEY = "hostile-tests-instance-key-0123456789"
OCI = "application/vnd.oci.image.manifest.v1+json"
REPO = "hostile/app"


def make_app(sbx, **extra):
    config = {"swr": {"registry": sbx.registry_url, "api": sbx.api_url, "dockyard": sbx.api_url},
              "organizations": {"auto_create": False}, **extra}
    app = create_app(load_data(config))
    app.testing = True
    return app


@pytest.fixture
def client(sbx, monkeypatch):
    monkeypatch.setenv("SWR_BRIDGE_KEY", INSTANCE_KEY)
    return make_app(sbx).test_client()


@pytest.fixture
def auth(client, sbx):
    return bearer(client, sbx.tenants[0], REPO, "pull,push,delete")


def oci_error(resp) -> str:
    return resp.get_json()["errors"][0]["code"]


# --- row 2: metrics labels -------------------------------------------------------------------------
def test_row02_ten_thousand_random_methods_and_paths_leave_metrics_bounded(client):
    rng = random.Random(2)
    word = lambda n: "".join(rng.choices(string.ascii_letters + string.digits, k=n))  # noqa: E731
    before = len(generate_latest(REGISTRY))
    for i in range(10_000):
        method = word(rng.randint(3, 12)).upper() if i % 2 else rng.choice(["GET", "HEAD", "POST", "DELETE"])
        path = rng.choice([f"/{word(8)}", f"/v2/{word(5).lower()}/manifests/{word(6)}",
                           f"/api/v1/{word(7)}", f"/dockyard/v2/{word(4)}", f"/v2/x/blobs/uploads/{word(30)}"])
        client.open(path, method=method).close()
    grown = len(generate_latest(REGISTRY)) - before
    assert grown < 200_000, f"/metrics grew by {grown} bytes"


def test_row02_organization_labels_are_capped(monkeypatch):
    monkeypatch.setattr(metrics, "_organizations", set())
    labels = {metrics.organization_label(f"org{i}") for i in range(metrics.MAX_ORGANIZATIONS + 300)}
    assert len(labels) == metrics.MAX_ORGANIZATIONS + 1 and "other" in labels
    assert metrics.organization_label("org1") == "org1"  # the first ones keep their own series


# --- row 5: JSON of any depth ----------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_row05_deeply_nested_manifest_is_a_400(client, auth, body):
    resp = client.put(f"/v2/{REPO}/manifests/v1", data=body, headers={**auth, "Content-Type": OCI})
    assert resp.status_code == 400 and oci_error(resp) == "MANIFEST_INVALID"


def test_row05_deeply_nested_namespace_body_is_a_400(client, sbx):
    body = b'{"namespace":' * 50_000 + b'"x"' + b"}" * 50_000
    resp = client.post("/dockyard/v2/namespaces", data=body, headers={**basic(sbx.tenants[0]),
                                                                       "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["errorCode"].startswith("SVCSTG.SWR.")


# --- row 6: media types ----------------------------------------------------------------------------
def manifest(media_type=None) -> bytes:
    doc = {"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": digest_of(b"{}"), "size": 2}, "layers": []}
    if media_type is not None:
        doc["mediaType"] = media_type
    return json.dumps(doc).encode()


@pytest.mark.parametrize("media_type,content_type", [
    (5, None), (OCI + "\r\nX-Injected: 1", None), ({"a": 1}, None), (None, "text/html"),
    (None, OCI + "x"), ("application/json", None)])
def test_row06_manifest_media_types_outside_the_known_set_are_a_400(client, auth, media_type, content_type):
    headers = dict(auth)
    if content_type:
        headers["Content-Type"] = content_type
    resp = client.put(f"/v2/{REPO}/manifests/v1", data=manifest(media_type), headers=headers)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert oci_error(resp) == "MANIFEST_INVALID"


# --- row 7: DELETE of an upload --------------------------------------------------------------------
def test_row07_delete_of_an_upload_frees_it(client, auth):
    location = start_upload(client, auth, REPO)
    assert client.patch(location, data=b"abc", headers=auth).status_code == 202
    location = start_upload(client, auth, REPO)
    deleted = client.delete(location, headers=auth)
    assert deleted.status_code == 204, deleted.get_data(as_text=True)
    status = client.get(location, headers=auth)
    assert status.status_code == 404 and oci_error(status) == "BLOB_UPLOAD_UNKNOWN"


# --- row 8: Content-Range --------------------------------------------------------------------------
def test_row08_a_content_range_that_does_not_continue_the_upload_is_a_416(client, auth):
    location = start_upload(client, auth, REPO)
    first = client.patch(location, data=b"0123456789", headers={**auth, "Content-Range": "0-9"})
    assert first.status_code == 202
    location = first.headers["Location"]
    for bad in ("20-29", "5-14", "0-9"):
        resp = client.patch(location, data=b"x" * 10, headers={**auth, "Content-Range": bad})
        assert resp.status_code == 416 and oci_error(resp) == "RANGE_INVALID", bad
    assert client.patch(location, data=b"x" * 5, headers={**auth, "Content-Range": "10-19"}).status_code == 416
    good = client.patch(location, data=b"abcdefghij", headers={**auth, "Content-Range": "10-19"})
    assert good.status_code == 202 and good.headers["Range"] == "0-19"


# --- row 9: the realm ------------------------------------------------------------------------------
def realm(resp) -> str:
    return resp.headers["WWW-Authenticate"].split('realm="')[1].split('"')[0]


def test_row09_the_realm_never_comes_from_the_request(client):
    resp = client.get("/v2/", headers={"Host": "evil.example:8443"})
    assert resp.status_code == 401
    assert realm(resp) == "http://127.0.0.1:8080/auth/token"  # the listen address


def test_row09_a_trusted_host_or_public_url_names_the_realm(sbx, monkeypatch):
    monkeypatch.setenv("SWR_BRIDGE_KEY", INSTANCE_KEY)
    trusting = make_app(sbx, trusted_hosts=["bridge.example:5000"]).test_client()
    assert realm(trusting.get("/v2/", headers={"Host": "bridge.example:5000"})) == \
        "http://bridge.example:5000/auth/token"
    assert "evil" not in realm(trusting.get("/v2/", headers={"Host": "evil.example"}))
    public = make_app(sbx, public_url="https://swr-bridge.example").test_client()
    assert realm(public.get("/v2/", headers={"Host": "evil.example"})) == "https://swr-bridge.example/auth/token"


# --- row 10: tags and digests ----------------------------------------------------------------------
@pytest.mark.parametrize("method,path,code", [
    ("GET", "/manifests/..", "NAME_INVALID"), ("HEAD", "/manifests/..", None),
    ("DELETE", "/manifests/..", "NAME_INVALID"), ("PUT", "/manifests/..", "NAME_INVALID"),
    ("GET", "/manifests/sha256:..", "DIGEST_INVALID"), ("GET", "/referrers/..", "DIGEST_INVALID"),
    ("GET", "/blobs/..", "DIGEST_INVALID"), ("DELETE", "/blobs/..", "DIGEST_INVALID")])
def test_row10_tags_and_digests_are_checked_on_every_route(client, auth, method, path, code):
    resp = client.open(f"/v2/{REPO}{path}", method=method, headers=auth, data=manifest(OCI) if method == "PUT" else None)
    assert resp.status_code == 400, (method, path, resp.status_code)
    if code:
        assert oci_error(resp) == code


def test_row10_repository_names_with_dot_segments_are_refused(client, auth):
    resp = client.get(f"/v2/{REPO}/../other/manifests/v1", headers=auth)
    assert resp.status_code == 400 and oci_error(resp) == "NAME_INVALID"
