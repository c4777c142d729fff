"""SWR's limits through the endpoint: its 503 + Retry-After reaches the client as such (not as a 502), and a
layer over SWR's size limit is refused before a byte of it goes upstream."""

from __future__ import annotations

import os

import requests

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from adapter.transfer.oci import sha256_digest
from tests.integration.endpoint import Endpoint


def _token(ep, tenant, name: str) -> dict:
    resp = requests.get(f"{ep.url}/auth/token", params={"scope": f"repository:{name}:pull,push"},
                        auth=(tenant.access_id, tenant.sk), timeout=10)
    assert resp.status_code == 200, resp.text
    return {"Authorization": "Bearer " + resp.json()["token"]}


def test_swr_rate_limit_reaches_the_client_as_503_with_retry_after(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=3)) as sbx:
        tenant = sbx.tenants[0]
        sbx.create_organization(tenant, "busy")
        with Endpoint(tmp_path, sbx) as ep:
            auth = _token(ep, tenant, "busy/app")
            with requests.Session() as http:
                answers = [http.head(f"{ep.url}/v2/busy/app/manifests/v{i}", headers=auth, timeout=10)
                           for i in range(10)]
            limited = [a for a in answers if a.status_code == 503]
            assert limited and all(a.status_code in (404, 503) for a in answers), [a.status_code for a in answers]
            assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
            for _ in range(50):  # a GET carries the OCI body Harbor logs
                got = requests.get(f"{ep.url}/v2/busy/app/manifests/x", headers=auth, timeout=10)
                if got.status_code == 503:
                    break
            assert got.status_code == 503 and got.json()["errors"][0]["code"] == "TOOMANYREQUESTS" and "Retry-After" in got.headers


def test_a_layer_over_the_limit_is_refused_before_anything_is_sent(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=None)) as sbx:
        tenant = sbx.tenants[0]
        sbx.create_organization(tenant, "sized")
        swr = {"registry": sbx.registry_url, "api": sbx.api_url, "max_layer_size": "64KiB"}
        with Endpoint(tmp_path, sbx, extra={"swr": swr}) as ep:
            auth = _token(ep, tenant, "sized/app")
            data = os.urandom(100 * 1024)
            start = requests.post(f"{ep.url}/v2/sized/app/blobs/uploads/", headers=auth, timeout=10)
            assert start.status_code == 202
            sent = len(sbx.front.rates.arrivals)
            put = requests.put(ep.url + start.headers["Location"], params={"digest": sha256_digest(data)}, data=data,
                               headers=auth, timeout=10)
            assert put.status_code == 413
            error = put.json()["errors"][0]
            assert error["code"] == "SIZE_INVALID" and "over SWR's limit of 65.536 kB per layer" in error["message"]
            assert len(sbx.front.rates.arrivals) == sent  # not a request, so not a byte, went to SWR
            chunk = requests.patch(ep.url + start.headers["Location"], data=data[:70 * 1024], timeout=10,
                                   headers={**auth, "Content-Range": f"0-{70 * 1024 - 1}"})
            assert chunk.status_code == 413 and len(sbx.front.rates.arrivals) == sent
            small = os.urandom(1000)
            ok = requests.post(f"{ep.url}/v2/sized/app/blobs/uploads/", params={"digest": sha256_digest(small)},
                               data=small, headers=auth, timeout=10)
            assert ok.status_code == 201
