"""`swr-bridge serve` as operators run it: metrics merged across gunicorn workers (and kept when a
worker dies), a fresh metrics directory per run, /readyz, TLS, and a graceful shutdown that lets an
in-flight upload finish."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from adapter.sandbox.registry import free_port
from adapter.sandbox.runner import Sandbox
from tests.images import build_image, push
from tests.integration.endpoint import SWR_BRIDGE, Endpoint
from tests.registries import TEST_STRICT
from tests.tls import self_signed

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def sbx(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("sandbox"), org_quota=10, strict=TEST_STRICT) as sandbox:
        sandbox.create_organization(sandbox.tenants[0], "ops")
        yield sandbox


def metric(url: str, name: str, **labels) -> float | None:
    text = requests.get(url + "/metrics", timeout=10).text
    want = sorted(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match and match.group(1) == name and sorted(match.group(2).split(",")) == want:
            return float(match.group(3))
    return None


def workers_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


def stale_metrics(path: Path) -> None:
    """A previous run's sample in the metrics directory, written the way a worker writes it."""
    code = ("from adapter import metrics; "
            "metrics.BYTES.labels(organization='stale-org', direction='push').inc(123)")
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(path))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=Path(__file__).parents[3])
    assert list(path.glob("counter_*.db"))


def test_metrics_are_merged_across_workers_and_survive_a_dead_worker(sbx, tmp_path):
    tenant = sbx.tenants[0]
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale_metrics(metrics_dir)
    image = build_image(tmp_path / "img", "v1", layers=3, layer_size=MIB)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with Endpoint(tmp_path, sbx, workers=2, env=env) as ep:
        result = push(image, f"127.0.0.1:{ep.port}/ops/merged:v1", f"{tenant.access_id}:{tenant.sk}")
        assert result.returncode == 0, result.stderr
        pushed = metric(ep.url, "swr_bridge_relayed_bytes_total", organization="ops", direction="push")
        assert pushed is not None and pushed >= 3 * MIB
        # Whichever worker answers the scrape, the total is the same.
        assert {metric(ep.url, "swr_bridge_relayed_bytes_total", organization="ops", direction="push")
                for _ in range(6)} == {pushed}
        assert "stale-org" not in requests.get(ep.url + "/metrics", timeout=10).text
        assert len(list(metrics_dir.glob("*.db"))) >= 1

        old = workers_of(ep.proc.pid)
        assert len(old) == 2
        os.kill(old[0], signal.SIGKILL)
        deadline = time.time() + 20
        while time.time() < deadline and (len(workers_of(ep.proc.pid)) < 2 or old[0] in workers_of(ep.proc.pid)):
            time.sleep(0.2)
        assert old[0] not in workers_of(ep.proc.pid) and len(workers_of(ep.proc.pid)) == 2
        # The dead worker's counts are still part of the totals.
        assert metric(ep.url, "swr_bridge_relayed_bytes_total", organization="ops", direction="push") == pushed
        count = metric(ep.url, "swr_bridge_request_duration_seconds_count",
                       route="manifests.put_manifest", method="PUT", status="2xx")
        assert count == 1


def test_serve_makes_a_metrics_directory_of_its_own(sbx, tmp_path):
    """Without PROMETHEUS_MULTIPROC_DIR, serve makes a fresh directory; each worker writes there."""
    scratch = tmp_path / "tmp"  # serve's own TMPDIR, so other serve processes cannot interfere
    scratch.mkdir()
    with Endpoint(tmp_path, sbx, workers=2, env={"TMPDIR": str(scratch)}) as ep:
        for _ in range(4):
            requests.get(ep.url + "/healthz", timeout=5)
        (made,) = scratch.glob("swr-bridge-metrics-*")
        pids = workers_of(ep.proc.pid)
        written = {f.name.rsplit("_", 1)[-1] for f in made.glob("*.db")}
        assert written and written <= {f"{pid}.db" for pid in pids}  # only our workers write there


def test_readyz_through_gunicorn(sbx, tmp_path):
    with Endpoint(tmp_path, sbx) as ep:
        resp = requests.get(ep.url + "/readyz", timeout=10)
        assert resp.status_code == 200
        assert resp.json()["checks"] == {"swr_registry": {"ok": True}, "swr_api": {"ok": True}}
    with Sandbox(tmp_path / "gone", strict=TEST_STRICT) as gone:
        registry, api = gone.registry_url, gone.api_url
    ep = Endpoint(tmp_path, sbx)
    config = yaml.safe_load(ep.config_path.read_text())
    config["swr"] = {"registry": registry, "api": api, "dockyard": api}
    ep.config_path.write_text(yaml.safe_dump(config))
    with ep:
        resp = requests.get(ep.url + "/readyz", timeout=30)
        assert resp.status_code == 503
        assert resp.json()["status"] == "unready"
        assert requests.get(ep.url + "/healthz", timeout=5).status_code == 200  # alive, just not ready




def test_tls_from_env(sbx, tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    config = tmp_path / "tls.yaml"
    config.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{port}",
                                      "swr": {"registry": sbx.registry_url, "api": sbx.api_url}}))
    env = dict(os.environ, SWR_BRIDGE_KEY="tls-test-instance-key-0123456789", SWR_BRIDGE_TLS_CERT=str(cert),
               SWR_BRIDGE_TLS_KEY=str(key), SWR_BRIDGE_PORT=str(port))
    with open(tmp_path / "tls.log", "wb") as log:
        proc = subprocess.Popen([SWR_BRIDGE, "serve", "--config", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    try:
        deadline, resp = time.time() + 20, None
        while time.time() < deadline and resp is None:
            try:
                resp = requests.get(f"https://127.0.0.1:{port}/healthz", verify=str(cert), timeout=5)
            except (requests.ConnectionError, requests.Timeout):  # queued until a worker has booted
                time.sleep(0.2)
        assert resp is not None and resp.status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # plain HTTP is not served
        probe = subprocess.run([sys.executable, "-m", "adapter.health"], env=env, capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr
    finally:
        proc.terminate()
        proc.wait(20)


def test_sigterm_lets_an_inflight_upload_finish(sbx, tmp_path):
    tenant = sbx.tenants[0]
    with Endpoint(tmp_path, sbx, env={"SWR_BRIDGE_GRACEFUL_TIMEOUT": "30"}) as ep:
        token = requests.get(f"{ep.url}/auth/token", params={"scope": "repository:ops/drain:pull,push"},
                             auth=(tenant.access_id, tenant.sk), timeout=10).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        start = requests.post(f"{ep.url}/v2/ops/drain/blobs/uploads/", headers=auth, timeout=10)
        assert start.status_code == 202
        refused = []

        def slow_body():
            yield os.urandom(MIB)
            ep.proc.send_signal(signal.SIGTERM)
            # The arbiter handles the signal in its own loop, so on a loaded machine a request sent
            # soon after it may still be served; within seconds, new work must be refused.
            deadline = time.monotonic() + 10
            while not refused and time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    requests.get(ep.url + "/healthz", timeout=2)
                except (requests.ConnectionError, requests.Timeout):
                    refused.append(True)  # no new work once the shutdown began (it queues, then is reset)
            for _ in range(6):
                time.sleep(0.3)
                yield os.urandom(MIB)

        resp = requests.patch(ep.url + start.headers["Location"], data=slow_body(), headers=auth, timeout=60)
        assert resp.status_code == 202, resp.text
        assert resp.headers["Range"] == f"0-{7 * MIB - 1}"
        assert refused == [True]
        assert ep.proc.wait(30) == 0


def test_a_store_that_cannot_be_opened_stops_serve_with_its_reason_and_no_traceback(tmp_path):
    # Was a ConfigError traceback from each worker gunicorn booted, then gunicorn's HaltServer traceback.
    config = tmp_path / "swr-bridge.yaml"
    config.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{free_port()}",
                                      "webhooks": {"auth_tokens_env": ["HOOK_TOKEN"], "store": f"sqlite:///{tmp_path}"}}))
    env = {**os.environ, "HOOK_TOKEN": "hook-token-0123456789", "SWR_BRIDGE_WORKERS": "1"}
    run = subprocess.run([SWR_BRIDGE, "serve", "--config", str(config)], capture_output=True, text=True, env=env,
                         timeout=60)
    assert run.returncode == 3 and "Traceback" not in run.stderr
    assert "error: <config>: webhooks.store: cannot open the store: unable to open database file" in run.stderr
    assert "Worker failed to boot." in run.stderr
