"""The bandwidth budget in a real `swr-bridge serve` with two gunicorn workers: concurrent uploads
share one rate, pulls are throttled too, an organization's own limit holds, and /metrics (merged
from both workers' files) counts exactly the bytes that went through."""

import hashlib
import os
import re
import threading
import time

import pytest
import requests

from adapter.throttle import BURST, QUANTUM
from tests.integration.endpoint import Endpoint

MIB = 1024 * 1024
ORGS = ("budget-a", "budget-b", "budget-slow")


@pytest.fixture(scope="module")
def ep(sbx, tmp_path_factory):
    bandwidth = {"limit": "6MiB/s", "per_organization": {"budget-slow": "2MiB/s"}}
    with Endpoint(tmp_path_factory.mktemp("ep"), sbx, workers=2, extra={"bandwidth": bandwidth}) as endpoint:
        yield endpoint


def shortest(size: int, rate: float) -> float:
    """The least time `size` bytes can take under `rate`: the last chunk is sent as its turn begins,
    and a link idle before the start lends BURST seconds."""
    return (size - QUANTUM) / rate - BURST


def bearer(ep, tenant, repo: str) -> dict:
    resp = requests.get(f"{ep.url}/auth/token", params={"scope": f"repository:{repo}:pull,push"},
                        auth=(tenant.access_id, tenant.sk), timeout=10)
    assert resp.status_code == 200, resp.text
    return {"Authorization": "Bearer " + resp.json()["token"]}


def upload(ep, auth: dict, repo: str, data: bytes) -> str:
    """A monolithic blob upload through the endpoint (a fresh connection, so any worker may take it)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with requests.Session() as s:
        start = s.post(f"{ep.url}/v2/{repo}/blobs/uploads/", headers=auth, timeout=30)
        assert start.status_code == 202, start.text
        done = s.put(ep.url + start.headers["Location"], params={"digest": digest}, data=data,
                     headers={**auth, "Content-Type": "application/octet-stream"}, timeout=120)
    assert done.status_code == 201, done.text
    return digest


def timed_uploads(ep, tenant, jobs) -> list[tuple[float, float]]:
    spans = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i, repo, data):
        auth = bearer(ep, tenant, repo)
        barrier.wait()
        start = time.monotonic()
        upload(ep, auth, repo, data)
        spans[i] = (start, time.monotonic())

    threads = [threading.Thread(target=run, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(spans), "an upload did not finish"
    return spans


def metric(ep, name: str, **labels) -> float:
    text = requests.get(ep.url + "/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match and match.group(1) == name:
            got = ",".join(sorted(match.group(2).split(",")))
            if got == want:
                return float(match.group(3))
    return 0.0


def test_concurrent_uploads_share_the_instance_budget(ep, sbx):
    tenant = sbx.tenants[0]
    before = metric(ep, "swr_bridge_relayed_bytes_total", organization="budget-a", direction="push")
    jobs = [(f"budget-a/app{i}", os.urandom(8 * MIB)) for i in range(3)]
    spans = timed_uploads(ep, tenant, jobs)
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    # Unshared per-worker budgets would let this run at two or three times the limit.
    assert end - start >= 0.9 * shortest(24 * MIB, 6 * MIB)
    assert 24 * MIB / (end - start) >= 6 * MIB * 0.6
    for s, e in spans:  # each upload ran alongside the others for most of the time (8 turns each)
        assert (e - s) >= 0.6 * (end - start)
    after = metric(ep, "swr_bridge_relayed_bytes_total", organization="budget-a", direction="push")
    assert after - before == 24 * MIB
    assert metric(ep, "swr_bridge_throttle_wait_seconds_total", limit="instance") > 0.5


def test_an_organization_limit_holds_below_the_instance_limit(ep, sbx):
    tenant = sbx.tenants[0]
    before = metric(ep, "swr_bridge_throttle_wait_seconds_total", limit="organization")
    [(start, end)] = timed_uploads(ep, tenant, [("budget-slow/app", os.urandom(4 * MIB))])
    assert end - start >= 0.9 * shortest(4 * MIB, 2 * MIB)
    assert metric(ep, "swr_bridge_throttle_wait_seconds_total", limit="organization") - before > 1.0


def test_pulls_are_throttled_and_counted(ep, sbx):
    tenant = sbx.tenants[0]
    data = os.urandom(6 * MIB)
    auth = bearer(ep, tenant, "budget-b/pull")
    digest = upload(ep, auth, "budget-b/pull", data)
    before = metric(ep, "swr_bridge_relayed_bytes_total", organization="budget-b", direction="pull")
    timed = {"route": "blobs.get_blob", "method": "GET", "status": "2xx"}
    pulls_before = metric(ep, "swr_bridge_request_duration_seconds_count", **timed)
    start = time.monotonic()
    got = requests.get(f"{ep.url}/v2/budget-b/pull/blobs/{digest}", headers=auth, timeout=60)
    elapsed = time.monotonic() - start
    assert got.status_code == 200 and got.content == data
    assert elapsed >= 0.9 * shortest(6 * MIB, 6 * MIB)
    after = metric(ep, "swr_bridge_relayed_bytes_total", organization="budget-b", direction="pull")
    assert after - before == 6 * MIB
    # A streamed answer is timed when its last byte is out, which is at least the throttled time.
    assert metric(ep, "swr_bridge_request_duration_seconds_count", **timed) == pulls_before + 1
