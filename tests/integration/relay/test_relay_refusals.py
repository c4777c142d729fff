"""Refusals and stateless uploads, in-process against the real sandbox: tokens, credentials, digests."""

import os

import pytest

from adapter.transfer.oci import sha256_digest
from tests.integration.relay.helpers import (
    basic,
    bearer,
    count_upstream,
    start_upload,
    upload_blob,
)


def test_v2_challenges_without_credentials(make_app):
    resp = make_app().test_client().get("/v2/")
    assert resp.status_code == 401
    challenge = resp.headers["WWW-Authenticate"]
    # No public_url and no trusted_hosts: the listen address, never the request's Host.
    assert challenge.startswith('Bearer realm="http://127.0.0.1:8080/auth/token"') and 'service="swr-bridge"' in challenge
    assert resp.get_json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_wrong_credentials_are_refused(make_app, tenant):
    client = make_app().test_client()
    wrong = "x" * 40
    for resp in (client.get("/auth/token?scope=repository:a/b:pull", headers=basic(tenant, wrong)),
                 client.get("/v2/", headers=basic(tenant, wrong))):
        assert resp.status_code == 401
        assert resp.get_json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert client.get("/v2/", headers=basic(tenant)).status_code == 200


def test_tampered_upload_token_is_unknown_with_zero_upstream_requests(make_app, tenant, org):
    app = make_app()
    client = app.test_client()
    name = f"{org}/app"
    auth = bearer(client, tenant, name)
    location = start_upload(client, auth, name)
    calls = count_upstream(app)
    token = location.rsplit("/", 1)[1]
    tampered = location[: -len(token)] + token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        resp = client.open(tampered + ("?digest=sha256:" + "0" * 64 if method == "PUT" else ""),
                           method=method, headers=auth, data=b"x")
        assert resp.status_code == 404, method
        assert resp.get_json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert calls == []


def test_upload_token_is_bound_to_its_repository(make_app, tenant, org):
    client = make_app().test_client()
    auth = bearer(client, tenant, f"{org}/app")
    location = start_upload(client, auth, f"{org}/app")
    other = location.replace(f"/v2/{org}/app/", f"/v2/{org}/other/")
    resp = client.get(other, headers=bearer(client, tenant, f"{org}/other"))
    assert resp.status_code == 404 and resp.get_json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_scope_is_enforced_per_repository_and_action(make_app, tenant, org):
    client = make_app().test_client()
    pull_only = bearer(client, tenant, f"{org}/app", "pull")
    resp = client.post(f"/v2/{org}/app/blobs/uploads/", headers=pull_only)
    assert resp.status_code == 403 and resp.get_json()["errors"][0]["code"] == "DENIED"
    resp = client.head(f"/v2/{org}/elsewhere/blobs/sha256:{'0' * 64}", headers=pull_only)
    assert resp.status_code == 403


def test_digest_mismatch_is_refused_and_nothing_is_stored(make_app, tenant, org):
    client = make_app().test_client()
    name = f"{org}/app"
    auth = bearer(client, tenant, name)
    data = os.urandom(4096)
    wrong = sha256_digest(b"other")
    location = start_upload(client, auth, name)
    resp = client.put(f"{location}?digest={wrong}", headers=auth, data=data)
    assert resp.status_code == 400 and resp.get_json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.head(f"/v2/{name}/blobs/{wrong}", headers=auth).status_code == 404
    right = sha256_digest(data)
    assert client.head(f"/v2/{name}/blobs/{right}", headers=auth).status_code == 404


def test_monolithic_put_and_chunked_patch_both_store_the_blob(make_app, tenant, org):
    client = make_app().test_client()
    name = f"{org}/app"
    auth = bearer(client, tenant, name)
    data = os.urandom(300_000)
    digest = upload_blob(client, auth, name, data)
    got = client.get(f"/v2/{name}/blobs/{digest}", headers=auth)
    assert got.status_code == 200 and got.data == data

    data2 = os.urandom(250_000)
    digest2 = sha256_digest(data2)
    location = start_upload(client, auth, name)
    for start, end, form in ((0, 99_999, "{}-{}"), (100_000, 199_999, "bytes {}-{}")):
        resp = client.patch(location, headers={**auth, "Content-Range": form.format(start, end)},
                            data=data2[start:end + 1])
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.headers["Range"] == f"0-{end}"
        location = resp.headers["Location"]
    status = client.get(location, headers=auth)
    assert status.status_code == 204 and status.headers["Range"] == "0-199999"
    resp = client.put(status.headers["Location"] + f"?digest={digest2}", headers=auth, data=data2[200_000:])
    assert resp.status_code == 201
    assert client.get(f"/v2/{name}/blobs/{digest2}", headers=auth).data == data2


def test_upload_started_on_one_instance_finishes_on_another(make_app, tenant, org):
    first, second = make_app().test_client(), make_app().test_client()  # share only the instance key
    name = f"{org}/app"
    data = os.urandom(100_000)
    digest = sha256_digest(data)
    location = start_upload(first, bearer(first, tenant, name), name)
    resp = second.put(f"{location}?digest={digest}", headers=bearer(second, tenant, name), data=data)
    assert resp.status_code == 201
    assert first.head(f"/v2/{name}/blobs/{digest}", headers=bearer(first, tenant, name)).status_code == 200


def test_other_instance_key_cannot_read_upload_token(make_app, tenant, org, monkeypatch):
    first = make_app().test_client()
    name = f"{org}/app"
    location = start_upload(first, bearer(first, tenant, name), name)
    monkeypatch.setenv("SWR_BRIDGE_KEY", "a-different-instance-key-000000000")
    stranger = make_app().test_client()
    assert stranger.get(location, headers=bearer(stranger, tenant, name)).status_code == 404


@pytest.mark.parametrize("name,reason", [
    ("UPPER/app", "lower"), ("org/.app", "."), ("library/app", "library"), ("a" * 70 + "/x", "64"),
])
def test_names_breaking_swr_rules_get_name_invalid(make_app, tenant, name, reason):
    client = make_app().test_client()
    resp = client.post(f"/v2/{name}/blobs/uploads/", headers=basic(tenant))
    assert resp.status_code == 400
    error = resp.get_json()["errors"][0]
    assert error["code"] == "NAME_INVALID"


def test_manifest_checks(make_app, tenant, org):
    client = make_app().test_client()
    name = f"{org}/app"
    auth = bearer(client, tenant, name)
    put = client.put(f"/v2/{name}/manifests/v1", data=b"not json",
                     headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 400 and put.get_json()["errors"][0]["code"] == "MANIFEST_INVALID"
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}'
    put = client.put(f"/v2/{name}/manifests/v1", data=body,
                     headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 400 and "does not agree" in put.get_json()["errors"][0]["message"]
    put = client.put(f"/v2/{name}/manifests/bad:tag", data=body,
                     headers={**auth, "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    assert put.status_code == 400 and put.get_json()["errors"][0]["code"] == "NAME_INVALID"
    big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    put = client.put(f"/v2/{name}/manifests/v1", data=big,
                     headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 413
    ok = client.put(f"/v2/{name}/manifests/v1", data=body,
                    headers={**auth, "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    assert ok.status_code == 201
    digest = ok.headers["Docker-Content-Digest"]
    assert digest == sha256_digest(body)
    got = client.get(f"/v2/{name}/manifests/v1", headers=auth)
    assert got.data == body and got.headers["Docker-Content-Digest"] == digest
    tags = client.get(f"/v2/{name}/tags/list", headers=auth)
    assert tags.get_json() == {"name": name, "tags": ["v1"]}


def test_status_of_an_empty_upload_keeps_offset_zero(make_app, tenant, org):
    client = make_app().test_client()
    name = f"{org}/app"
    auth = bearer(client, tenant, name)
    status = client.get(start_upload(client, auth, name), headers=auth)
    assert status.status_code == 204 and status.headers["Range"] == "0-0"
    # Still a monolithic upload: the relay itself verifies the digest before committing anything.
    wrong = sha256_digest(b"other")
    resp = client.put(status.headers["Location"] + f"?digest={wrong}", headers=auth, data=os.urandom(1000))
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["message"].startswith("content digest sha256:")
