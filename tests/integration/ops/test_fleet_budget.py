"""Three `swr-bridge serve` processes (three pods: each its own budget file, two workers) share one
real redis-server: six pushes spread over them hold the fleet's limit, an organization's limit holds
alongside, a time window switches the limit on schedule, and a Redis killed mid-transfer moves the
fleet to local-share without failing a push, then back to the shared budget when it returns."""

import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.integration.endpoint import Endpoint
from tests.integration.ops.test_budget_endpoint import bearer, metric, upload
from tests.redis_server import RedisServer

MIB = 1024 * 1024
LIMIT, SLOW, WINDOW = 24 * MIB, 4 * MIB, 12 * MIB
BLOB = 16 * MIB  # each push is a series of blob uploads of this size, back to back
ORGS = ("fleet-a", "fleet-slow")
BLOCK = os.urandom(MIB)
PASSWORD = "fleet-redis-password-42"


def window_start() -> datetime:
    """The first minute boundary at least 45 s away: the fleet starts and the first phase runs before it."""
    soon = datetime.now(timezone.utc) + timedelta(seconds=45)
    return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis"), password=PASSWORD) as srv:
        yield srv


@pytest.fixture(scope="module")
def fleet(sbx, redis_server, tmp_path_factory):
    start = window_start()
    hours = f"{start:%H:%M}-{start + timedelta(minutes=1):%H:%M}".replace("-00:00", "-24:00")
    bandwidth = {"limit": "24MiB/s", "per_organization": {"fleet-slow": "4MiB/s"},
                 "windows": [{"hours": hours, "limit": "12MiB/s"}],
                 "backend": redis_server.url, "password_env": "FLEET_REDIS_PASSWORD"}
    tmp = tmp_path_factory.mktemp("fleet")
    endpoints = []
    try:
        for i in range(3):
            env = {"SWR_BRIDGE_BUDGET_FILE": str(tmp / f"budget-{i}"), "FLEET_REDIS_PASSWORD": PASSWORD}
            endpoints.append(Endpoint(tmp, sbx, workers=2, extra={"bandwidth": bandwidth}, env=env).start())
        yield endpoints, start
    finally:
        for ep in endpoints:
            ep.stop()


class Pushers:
    """Six pushers, two per endpoint, one of each pair into the slow organization; each uploads
    16 MiB blobs back to back while `go` is set and records every failure."""

    def __init__(self, endpoints, tenant):
        self.go, self.done = threading.Event(), threading.Event()
        self.failures, self.pushed = [], 0
        self.jobs = [(ep, f"{ORGS[i % 2]}/app{i}", bearer(ep, tenant, f"{ORGS[i % 2]}/app{i}"))
                     for i, ep in enumerate(endpoints * 2)]
        self.threads = [threading.Thread(target=self._run, args=(n, *job), daemon=True)
                        for n, job in enumerate(self.jobs)]
        for t in self.threads:
            t.start()

    def _run(self, n, ep, repo, auth):
        count = 0
        while not self.done.is_set():
            if not self.go.wait(0.2):
                continue
            count += 1
            data = f"{n}:{count}:{time.time()}".encode().ljust(64) + BLOCK * (BLOB // MIB)
            try:
                upload(ep, auth, repo, data)
                self.pushed += 1
            except Exception as exc:  # every failure is a finding: the test asserts there are none
                self.failures.append(f"{ep.url} {repo}: {exc}")

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(150)


def relayed(endpoints, org=None) -> float:
    """Bytes the fleet has booked so far (all organizations, or one), summed over the endpoints."""
    return sum(metric(ep, "swr_bridge_relayed_bytes_total", organization=o, direction="push")
               for ep in endpoints for o in ([org] if org else ORGS))


def rates(endpoints, seconds: float) -> tuple[float, float]:
    """(fleet, slow organization) in bytes/s over the next `seconds`."""
    total, slow, t0 = relayed(endpoints), relayed(endpoints, "fleet-slow"), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    return (relayed(endpoints) - total) / elapsed, (relayed(endpoints, "fleet-slow") - slow) / elapsed


def states(endpoints) -> list[float]:
    """Each endpoint's swr_bridge_bandwidth_budget_fallback (a gauge without labels)."""
    found = []
    for ep in endpoints:
        text = requests.get(ep.url + "/metrics", timeout=10).text
        found += [float(v) for v in re.findall(r"^swr_bridge_bandwidth_budget_fallback (\S+)$", text, re.M)]
    return found


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_the_fleet_shares_one_budget_and_survives_redis(fleet, sbx, redis_server):
    endpoints, window = fleet
    pushers = Pushers(endpoints, sbx.tenants[0])
    try:
        pushers.go.set()
        time.sleep(3)  # every pusher is under way and the links are backlogged
        fleet_rate, slow_rate = rates(endpoints, 20)
        print(f"fleet {fleet_rate / MIB:.2f} MiB/s, fleet-slow {slow_rate / MIB:.2f} MiB/s over 20 s")
        assert abs(fleet_rate - LIMIT) <= 0.05 * LIMIT
        assert abs(slow_rate - SLOW) <= 0.05 * SLOW

        pushers.go.clear()  # nothing to prove until the window opens: spare the disk
        time.sleep(max(0.0, (window - datetime.now(timezone.utc)).total_seconds() - 3))
        pushers.go.set()
        wait_until(lambda: datetime.now(timezone.utc) >= window + timedelta(seconds=2), 10)
        windowed, _ = rates(endpoints, 10)
        print(f"in the window from {window:%H:%M} UTC: fleet {windowed / MIB:.2f} MiB/s")
        assert abs(windowed - WINDOW) <= 0.05 * WINDOW

        redis_server.kill()  # mid-transfer: every pusher is uploading
        wait_until(lambda: states(endpoints) == [1.0, 1.0, 1.0], 10)
        local, _ = rates(endpoints, 8)  # each replica takes a third of the window's limit on its own file
        print(f"local-share: fleet {local / MIB:.2f} MiB/s")
        assert abs(local - WINDOW) <= 0.1 * WINDOW
        redis_server.start()
        wait_until(lambda: states(endpoints) == [0.0, 0.0, 0.0], 15)
        assert all(metric(ep, "swr_bridge_bandwidth_budget_changes_total", state="local-share") >= 1
                   for ep in endpoints)
        back, _ = rates(endpoints, 5)
        print(f"shared again: fleet {back / MIB:.2f} MiB/s")
        assert abs(back - WINDOW) <= 0.1 * WINDOW
    finally:
        pushers.stop()
    assert pushers.failures == [] and pushers.pushed > 0
    for ep in endpoints:
        log = ep.log_text()
        assert "Redis unreachable" in log and "Redis is back" in log
        assert PASSWORD not in log
