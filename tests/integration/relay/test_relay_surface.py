"""The rest of the /v2 surface in-process against the sandbox: mounts, monolithic POST, listings, deletes."""

import os

from adapter.sandbox.runner import Sandbox
from adapter.transfer.oci import sha256_digest
from tests.integration.relay.conftest import relay_config
from tests.integration.relay.helpers import basic, bearer, upload_blob
from tests.registries import TEST_STRICT


def test_monolithic_post_with_digest(make_app, tenant, org):
    client = make_app().test_client()
    name = f"{org}/mono"
    auth = bearer(client, tenant, name)
    data = os.urandom(50_000)
    digest = sha256_digest(data)
    resp = client.post(f"/v2/{name}/blobs/uploads/?digest={digest}", headers=auth, data=data)
    assert resp.status_code == 201 and resp.headers["Location"] == f"/v2/{name}/blobs/{digest}"
    head = client.head(f"/v2/{name}/blobs/{digest}", headers=auth)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))


def test_range_read_of_a_blob(make_app, tenant, org):
    client = make_app().test_client()
    name = f"{org}/ranged"
    auth = bearer(client, tenant, name)
    data = os.urandom(10_000)
    digest = upload_blob(client, auth, name, data)
    part = client.get(f"/v2/{name}/blobs/{digest}", headers={**auth, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == data[100:200]


def test_cross_repository_mount_maps_the_source(make_app, tenant, org):
    client = make_app().test_client()
    auth = basic(tenant)
    data = os.urandom(20_000)
    digest = upload_blob(client, auth, f"{org}/source", data)
    resp = client.post(f"/v2/{org}/target/blobs/uploads/?mount={digest}&from={org}/source", headers=auth)
    assert resp.status_code == 201 and resp.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{org}/target/blobs/{digest}", headers=auth).data == data


def test_a_mount_from_an_organization_swr_does_not_have_falls_back_to_an_upload(make_app, tenant, org):
    """SWR refuses a token whose scopes name an organization that does not exist (401 DENIED "Image
    organization does not exist"): the mount cannot be asked for, and the client is told to upload."""
    client = make_app().test_client()
    auth = basic(tenant)
    digest = sha256_digest(b"never uploaded here")
    resp = client.post(f"/v2/{org}/target/blobs/uploads/?mount={digest}&from=nosuchorg{os.getpid()}/src",
                       headers=auth)
    assert resp.status_code == 202 and "/blobs/uploads/" in resp.headers["Location"], resp.get_data(as_text=True)


def test_tags_of_a_repository_without_any_are_an_empty_list(make_app, tenant, org):
    """SWR lists them as `"tags": null` (so does the sandbox); clients get a list they can iterate."""
    client = make_app().test_client()
    name = f"{org}/never-pushed"
    listing = client.get(f"/v2/{name}/tags/list", headers=bearer(client, tenant, name))
    assert listing.status_code == 200 and listing.get_json() == {"name": name, "tags": []}


def test_tags_paging_rewrites_link_and_delete_by_digest(make_app, tenant, org):
    app = make_app(mapping=[{"match": "team/**", "namespace": org, "flatten": "none"}])
    client = app.test_client()
    name, dest = "team/app", f"{org}/team/app"
    auth = bearer(client, tenant, name, "pull,push,*")
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}'
    for tag in ("a", "b", "c"):
        put = client.put(f"/v2/{name}/manifests/{tag}", data=body,
                         headers={**auth, "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
        assert put.status_code == 201
    first = client.get(f"/v2/{name}/tags/list?n=2", headers=auth)
    assert first.get_json() == {"name": name, "tags": ["a", "b"]}
    link = first.headers["Link"]
    assert f"/v2/{name}/tags/list" in link and dest not in link
    nxt = client.get(link[link.index("<") + 1:link.index(">")], headers=auth)
    assert nxt.get_json()["tags"] == ["c"]
    digest = put.headers["Docker-Content-Digest"]
    assert client.delete(f"/v2/{name}/manifests/{digest}", headers=auth).status_code == 202
    gone = client.get(f"/v2/{name}/manifests/a", headers=auth)
    assert gone.status_code == 404 and gone.get_json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_catalog_unmaps_names_without_flattening(make_app, tenant, org):
    app = make_app(mapping=[{"match": "team/**", "namespace": org, "flatten": "none"}])
    client = app.test_client()
    auth = bearer(client, tenant, "team/listed")
    upload_blob(client, auth, "team/listed", os.urandom(100))
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}'
    client.put("/v2/team/listed/manifests/v1", data=body,
               headers={**auth, "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    token = client.get("/auth/token?scope=registry:catalog:*", headers=basic(tenant)).get_json()["token"]
    repos = client.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"}).get_json()["repositories"]
    assert "team/listed" in repos and f"{org}/team/listed" not in repos


def test_quota_refusal_answers_denied_with_swr_reason(tmp_path, monkeypatch):
    from adapter import create_app

    monkeypatch.setenv("SWR_BRIDGE_KEY", "quota-test-instance-key-0123456789")
    with Sandbox(tmp_path / "sbx", org_quota=1, strict=TEST_STRICT) as sbx:
        tenant = sbx.tenants[0]
        client = create_app(relay_config(sbx)).test_client()
        auth = basic(tenant)
        assert client.post("/v2/first-org/app/blobs/uploads/", headers=auth).status_code == 202
        resp = client.post("/v2/second-org/app/blobs/uploads/", headers=auth)
        assert resp.status_code == 403
        error = resp.get_json()["errors"][0]
        assert error["code"] == "DENIED" and "second-org" in error["message"]
