"""Shared helpers for the relay tests: credentials, tokens, uploads, and reading the sandbox directly."""

import base64

import requests

from adapter.registry.service import EXTENSION
from adapter.transfer.oci import sha256_digest


def basic(tenant, secret=None) -> dict:
    raw = f"{tenant.access_id}:{secret or tenant.sk}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(client, tenant, name, actions="pull,push") -> dict:
    resp = client.get(f"/auth/token?service=swr-bridge&scope=repository:{name}:{actions}", headers=basic(tenant))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["issued_at"].endswith("Z") and body["expires_in"] > 10
    return {"Authorization": "Bearer " + body["token"]}


def count_upstream(app) -> list:
    """Records every request the app sends upstream (registry, token service, SWR API)."""
    session = app.extensions[EXTENSION].session
    calls, real = [], session.request

    def recording(method, url, *args, **kwargs):
        calls.append((method, url))
        return real(method, url, *args, **kwargs)
    session.request = recording
    return calls


def start_upload(client, auth, name) -> str:
    resp = client.post(f"/v2/{name}/blobs/uploads/", headers=auth)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    return resp.headers["Location"]


def upload_blob(client, auth, name, data) -> str:
    """A monolithic upload; returns the digest the relay confirmed."""
    digest = sha256_digest(data)
    resp = client.put(start_upload(client, auth, name) + f"?digest={digest}", headers=auth, data=data)
    assert resp.status_code == 201 and resp.headers["Docker-Content-Digest"] == digest
    return digest


ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])


def direct_manifest(sbx, tenant, repo: str, ref: str) -> requests.Response:
    """Reads a manifest straight from the sandbox registry, bypassing the endpoint."""
    token = sbx.token(tenant, f"repository:{repo}:pull")
    return requests.get(f"{sbx.registry_url}/v2/{repo}/manifests/{ref}", timeout=10,
                        headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT})
