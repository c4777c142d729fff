"""SWR takes at most 20 layers of a tenant at once: one endpoint of two workers forwards no more, and the rest
wait; nor do two endpoints that share a Redis."""

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.held import HeldPatch, wait_for
from tests.integration.endpoint import Endpoint
from tests.integration.relay.conftest import INSTANCE_KEY
from tests.integration.relay.helpers import basic
from tests.redis_server import RedisServer

UPLOADS = 32


def push_token(ep, tenant, name: str) -> str:
    resp = requests.get(f"{ep.url}/auth/token?service=swr-bridge&scope=repository:{name}:pull,push",
                        headers=basic(tenant), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["token"]


def start_upload(ep, token: str, name: str) -> str:
    resp = requests.post(f"{ep.url}/v2/{name}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"},
                         timeout=10)
    assert resp.status_code == 202, resp.text
    return resp.headers["Location"]


def test_32_uploads_of_one_tenant_reach_swr_20_at_a_time_and_all_complete(sbx, org, tenant, tmp_path):
    other = sbx.tenants[1]
    sbx.create_organization(other, f"{org}-other")
    uploads = sbx.front.uploads  # the sandbox refuses a tenant's 21st upload in flight with 503
    uploads.peak.pop(tenant.access_id, None)
    with Endpoint(tmp_path, sbx, workers=2, instance_key=INSTANCE_KEY) as ep:
        name = f"{org}/seats"
        token = push_token(ep, tenant, name)
        held = [HeldPatch(ep.url, start_upload(ep, token, name), token) for _ in range(UPLOADS)]
        try:
            # 20 relay to SWR, 12 wait for a seat (in either worker: the seats hold across both).
            assert wait_for(lambda: uploads.open.get(tenant.access_id) == 20
                            and ep.metric("swr_bridge_uploads_waiting_for_seat") == UPLOADS - 20), \
                (uploads.open, ep.metric("swr_bridge_uploads_waiting_for_seat"))
            # Another tenant's upload goes straight through meanwhile, and /healthz answers.
            token_b = push_token(ep, other, f"{org}-other/seats")
            patched = requests.patch(ep.url + start_upload(ep, token_b, f"{org}-other/seats"), data=b"layer",
                                     headers={"Authorization": f"Bearer {token_b}"}, timeout=10)
            assert patched.status_code == 202, patched.text
            assert requests.get(f"{ep.url}/healthz", timeout=5).status_code == 200
            with ThreadPoolExecutor(UPLOADS) as pool:  # each rest is sent at once: the waiting ones block
                statuses = list(pool.map(HeldPatch.finish, held))
        finally:
            for h in held:
                h.close()
        assert statuses == ["HTTP/1.1 202 ACCEPTED"] * UPLOADS  # no 503: never a 21st at SWR
        assert uploads.peak[tenant.access_id] == 20
        assert ep.metric("swr_bridge_upload_seat_waits_total", result="seated") == UPLOADS - 20
        assert ep.metric("swr_bridge_upload_seat_waits_total", result="timeout") == 0
        assert ep.metric("swr_bridge_uploads_waiting_for_seat") == 0


def test_an_upload_that_finds_no_seat_within_the_timeout_gets_503_with_retry_after(sbx, org, tenant, tmp_path):
    swr = {"registry": sbx.registry_url, "api": sbx.api_url, "timeout": 1, "max_concurrent_layers": 2}
    with Endpoint(tmp_path, sbx, workers=2, extra={"swr": swr}, instance_key=INSTANCE_KEY) as ep:
        name = f"{org}/timeout"
        token = push_token(ep, tenant, name)
        held = [HeldPatch(ep.url, start_upload(ep, token, name), token) for _ in range(2)]
        try:
            assert wait_for(lambda: sbx.front.uploads.open.get(tenant.access_id) == 2)
            # Its head and first bytes (the worker gathers 64 KiB before a request runs): the refusal comes
            # without the rest of its body sent or read.
            late = HeldPatch(ep.url, start_upload(ep, token, name), token)
            held.append(late)
            assert late.status() == "HTTP/1.1 503 SERVICE UNAVAILABLE"
            resp = requests.patch(ep.url + start_upload(ep, token, name), data=b"layer", timeout=10,
                                  headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
            assert resp.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
            assert ep.metric("swr_bridge_upload_seat_waits_total", result="timeout") == 2
            assert [h.finish() for h in held[:2]] == ["HTTP/1.1 202 ACCEPTED"] * 2
        finally:
            for h in held:
                h.close()


def test_two_replicas_sharing_redis_hold_a_tenants_20_seats_together(sbx, org, tenant, tmp_path):
    uploads = sbx.front.uploads
    uploads.peak.pop(tenant.access_id, None)
    name = f"{org}/fleet"
    with RedisServer(tmp_path) as store:
        fleet = {"bandwidth": {"backend": store.url}}
        with Endpoint(tmp_path, sbx, workers=2, extra=fleet, instance_key=INSTANCE_KEY) as a, \
                Endpoint(tmp_path, sbx, workers=2, extra=fleet, instance_key=INSTANCE_KEY) as b:
            held = []
            try:
                for ep in (a, b):  # 16 at each replica: 32 for one tenant, as two pods would get them
                    token = push_token(ep, tenant, name)
                    held += [HeldPatch(ep.url, start_upload(ep, token, name), token) for _ in range(UPLOADS // 2)]

                def waiting() -> float:
                    return sum(ep.metric("swr_bridge_uploads_waiting_for_seat") for ep in (a, b))

                assert wait_for(lambda: uploads.open.get(tenant.access_id) == 20 and waiting() == UPLOADS - 20), \
                    (uploads.open, waiting())
                with ThreadPoolExecutor(UPLOADS) as pool:
                    statuses = list(pool.map(HeldPatch.finish, held))
            finally:
                for h in held:
                    h.close()
    assert statuses == ["HTTP/1.1 202 ACCEPTED"] * UPLOADS
    assert uploads.peak[tenant.access_id] == 20
