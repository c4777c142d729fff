"""SWR's blacklist (swr.md §4.5): the sandbox refuses a listed tenant's logins and registry requests with
`403 DENIED "Not allow to login, upload or download image"`, and lists a tenant that asks for tokens too
often. The endpoint answers a listed account 429 with Retry-After and sends SWR nothing more for it until its
hold ends, never takes the refusal for a wrong secret, and says so once in its log and its metrics."""

from __future__ import annotations

import time

import pytest
import requests

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from adapter.transfer.blacklist import BLACKLIST_MESSAGE
from tests.integration.endpoint import Endpoint

MISSING = "sha256:" + "0" * 64
HOLD = 3  # seconds, the endpoint's swr.blacklist_hold here (30 minutes by default)


def _sandbox_token(box, tenant, scope: str = "") -> requests.Response:
    params = {"service": "dockyard", **({"scope": scope} if scope else {})}
    return requests.get(box.registry_url + "/swr/auth/v2/registry/auth/", params=params,
                        auth=(tenant.access_id, tenant.login_key), timeout=10)


def test_the_sandbox_lists_a_tenant_that_asks_too_often_and_refuses_its_requests(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=None, blacklist_logins=3)) as box:
        tenant = box.tenants[0]
        box.create_organization(tenant, "listed")
        tokens = [_sandbox_token(box, tenant, "repository:listed/app:pull") for _ in range(3)]
        assert [t.status_code for t in tokens] == [200] * 3
        refused = _sandbox_token(box, tenant)
        error = refused.json()["errors"][0]
        assert refused.status_code == 403 and (error["code"], error["message"]) == ("DENIED", BLACKLIST_MESSAGE)
        bearer = {"Authorization": "Bearer " + tokens[0].json()["token"]}
        blob = requests.head(f"{box.registry_url}/v2/listed/app/blobs/{MISSING}", headers=bearer, timeout=10)
        listing = requests.get(f"{box.registry_url}/v2/listed/app/tags/list", headers=bearer, timeout=10)
        assert blob.status_code == 403 and listing.status_code == 403
        assert listing.json()["errors"][0]["message"] == BLACKLIST_MESSAGE
        assert box.blacklist.refused[tenant.access_id] == 3 and 1790 < box.blacklist.blocked(tenant.access_id) <= 1800
        box.blacklist.lift(tenant.access_id)
        assert requests.head(f"{box.registry_url}/v2/listed/app/blobs/{MISSING}", headers=bearer,
                             timeout=10).status_code == 404


@pytest.fixture
def listed_setup(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=None)) as box:
        tenant = box.tenants[0]
        box.create_organization(tenant, "held")
        swr = {"registry": box.registry_url, "api": box.api_url, "blacklist_hold": HOLD}
        with Endpoint(tmp_path, box, extra={"swr": swr}) as ep:
            yield box, tenant, ep


def _bearer(ep, tenant) -> requests.Response:
    return requests.get(f"{ep.url}/auth/token", params={"scope": "repository:held/app:pull,push"},
                        auth=(tenant.access_id, tenant.sk), timeout=10)


def test_the_endpoint_holds_a_listed_account_answers_429_and_sends_swr_nothing_meanwhile(listed_setup):
    box, tenant, ep = listed_setup
    auth = {"Authorization": "Bearer " + _bearer(ep, tenant).json()["token"]}
    url = f"{ep.url}/v2/held/app/blobs/{MISSING}"
    assert requests.head(url, headers=auth, timeout=10).status_code == 404
    box.blacklist.block(tenant.access_id)
    first = requests.get(f"{ep.url}/v2/held/app/tags/list", headers=auth, timeout=10)
    error = first.json()["errors"][0]
    assert first.status_code == 429 and error["code"] == "TOOMANYREQUESTS", first.text
    assert BLACKLIST_MESSAGE in error["message"] and tenant.access_id in error["message"]
    assert 1 <= int(first.headers["Retry-After"]) <= HOLD
    reached = box.blacklist.refused[tenant.access_id]  # the request with the cached token, then its new token
    answers = [requests.head(url, headers=auth, timeout=10).status_code for _ in range(5)]
    assert answers == [429] * 5 and box.blacklist.refused[tenant.access_id] == reached  # nothing went to SWR
    assert ep.metric("swr_bridge_swr_blacklisted_total") == 1
    box.blacklist.lift(tenant.access_id)
    time.sleep(HOLD + 0.2)
    assert requests.head(url, headers=auth, timeout=10).status_code == 404  # the hold ended, SWR is asked again
    log = ep.log_text()
    assert f"SWR blacklisted {tenant.access_id}" in log and f"the hold on {tenant.access_id}" in log
    assert tenant.sk not in log and tenant.login_key not in log


def test_a_login_that_meets_the_blacklist_is_not_taken_for_a_wrong_secret(listed_setup):
    box, tenant, ep = listed_setup
    box.blacklist.block(tenant.access_id)
    refused = _bearer(ep, tenant)  # the endpoint has not seen this secret: it asks SWR, which refuses
    assert refused.status_code == 429 and BLACKLIST_MESSAGE in refused.json()["errors"][0]["message"], refused.text
    assert "Retry-After" in refused.headers
    box.blacklist.lift(tenant.access_id)
    time.sleep(HOLD + 0.2)
    assert _bearer(ep, tenant).status_code == 200  # not refused from a cache of wrong secrets
    assert ep.metric("swr_bridge_swr_logins_total", result="refused") == 0
