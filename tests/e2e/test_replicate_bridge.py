"""replicate --wait on the webhook bridge: the Harbor double with its jobservice, the bridge as a gunicorn process.

Times are measured from the last webhook the jobservice delivered to the moment the CLI process has exited.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
import yaml

from provisioning.bridgewait import BridgeFollower, BridgeTarget
from tests.e2e.world import HARBOR_PASSWORD, WEBHOOK_TOKEN, Harbor, bridge_env, bridge_file, cli, wait_for
from tests.integration.endpoint import Endpoint

API_TOKEN = "e2e-api-token-0123456789abcdef"
# The bridge asks Harbor with an account of its own, so the CLI's requests can be counted apart.
BRIDGE_USER, BRIDGE_PASSWORD = "bridge-reader", "Bridge-Reader-12345"
VERDICT_WITHIN = 3.0


def bridge_process(tmp, sandbox, harbor_url: str) -> Endpoint:
    """`swr-bridge serve` (gunicorn, two workers on one SQLite file) with the bridge, its API and `harbor:`."""
    webhooks = {"auth_tokens_env": ["E2E_WEBHOOK_TOKEN"], "store": f"sqlite:///{tmp / 'events.db'}",
                "harbor": {"url": harbor_url, "username": BRIDGE_USER, "password_env": "BRIDGE_HARBOR_PASSWORD",
                           "verify_tls": False}}
    env = {"E2E_WEBHOOK_TOKEN": f"Bearer {WEBHOOK_TOKEN}", "BRIDGE_HARBOR_PASSWORD": BRIDGE_PASSWORD,
           "E2E_API_TOKEN": API_TOKEN}
    return Endpoint(tmp, sandbox, extra={"webhooks": webhooks, "api": {"tokens_env": ["E2E_API_TOKEN"]}},
                    env=env, workers=2)


def wired_file(tmp, harbor, endpoint_url: str, bridge_url: str, tenant, rule: str, repositories: str = "**"):
    """A bridge file whose only webhook policy is the one `bridge:` asks apply to make."""
    path = bridge_file(tmp / f"{rule}.yaml", harbor_url=harbor.url, endpoint_url=endpoint_url, tenant=tenant,
                       rule=rule, namespace=f"{rule}-org", repositories=repositories)
    doc = yaml.safe_load(path.read_text())
    doc.pop("webhooks")
    doc["bridge"] = {"url": bridge_url, "token_env": "BRIDGE_API_TOKEN", "intake_token_env": "BRIDGE_WEBHOOK_TOKEN"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli_env(tenant) -> dict:
    return {**bridge_env(tenant), "BRIDGE_API_TOKEN": API_TOKEN}


def admin_header() -> str:
    return "Basic " + base64.b64encode(f"admin:{HARBOR_PASSWORD}".encode()).decode()


def admin_requests_after_start(double) -> list[str]:
    """What the CLI (user admin) asked Harbor after it started the execution."""
    admin = admin_header()
    found = double.requests
    start = max(i for i, r in enumerate(found) if r.method == "POST" and r.route == "/replication/executions")
    return [f"{r.method} {r.path}" for r in found[start + 1:] if r.headers.get("Authorization") == admin]


@pytest.fixture
def world(sandbox, harbor_registry, tmp_path):
    """Harbor, the bridge, and the replication target (an endpoint process of its own, so the bridge can stop)."""
    with Harbor(harbor_registry.url) as harbor:
        harbor.state.users[BRIDGE_USER] = BRIDGE_PASSWORD
        with bridge_process(tmp_path, sandbox, harbor.url) as bridge, Endpoint(tmp_path, sandbox) as target:
            harbor.target = target
            yield harbor, bridge


def _replicate(world, tmp_path, sandbox, rule: str, repositories: str = "**"):
    harbor, bridge = world
    tenant = sandbox.tenants[0]
    path = wired_file(tmp_path, harbor, harbor.target.url, bridge.url, tenant, rule, repositories)
    applied = cli("apply", "-f", str(path), "--yes", env=cli_env(tenant))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    result = cli("replicate", rule, "-f", str(path), "--wait", "--timeout", "180", "--progress", "lines",
                 env=cli_env(tenant))
    ended = time.time()
    run = next(r for r in harbor.state.runs.values() if r["policy"]["name"] == rule)
    last_webhook = max(at for at, *_ in run["notified"])
    return result, ended - last_webhook, run


def test_apply_points_the_webhook_policy_at_the_bridge_intake(world, tmp_path, sandbox):
    harbor, bridge = world
    path = wired_file(tmp_path, harbor, harbor.target.url, bridge.url, sandbox.tenants[0], "e2e-wired")
    assert cli("apply", "-f", str(path), "--yes", env=cli_env(sandbox.tenants[0])).returncode == 0
    (policy,) = harbor.state.webhook_policies.values()
    assert policy["name"] == "swr-bridge-library" and policy["event_types"] == ["REPLICATION"] and policy["enabled"]
    (target,) = policy["targets"]
    assert target["address"] == f"{bridge.url}/webhooks/harbor" and target["auth_header"] == f"Bearer {WEBHOOK_TOKEN}"


def test_a_success_is_reported_within_3s_of_the_last_webhook(world, tmp_path, sandbox):
    result, delay, run = _replicate(world, tmp_path, sandbox, "e2e-bridge-ok")
    print(f"success verdict {delay:.2f}s after the last webhook")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeed (succeeded); tasks: 3 total, 3 succeeded" in result.stdout
    assert "polling Harbor" not in result.stderr
    assert delay <= VERDICT_WITHIN, f"verdict {delay:.2f}s after the last webhook"
    assert admin_requests_after_start(world[0].double) == []


def test_a_failure_is_reported_within_3s_of_the_last_webhook_with_its_log_tail(world, tmp_path, sandbox):
    world[0].state.failing_attempts["library/web"] = 3  # every attempt fails
    result, delay, run = _replicate(world, tmp_path, sandbox, "e2e-bridge-fail")
    print(f"failure verdict {delay:.2f}s after the last webhook")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed (failed); tasks: 3 total, 2 succeeded, 1 failed" in result.stdout
    assert "failed task" in result.stdout and "library/web" in result.stdout
    assert "connection reset by peer" in result.stdout  # the log tail, from the bridge
    assert [s for _, _, s, _ in run["notified"]].count("Error") == 3
    assert delay <= VERDICT_WITHIN, f"verdict {delay:.2f}s after the last webhook"
    assert admin_requests_after_start(world[0].double) == []


def test_a_task_failing_once_then_succeeding_on_retry_ends_as_success(world, tmp_path, sandbox):
    world[0].state.failing_attempts["library/web"] = 1
    result, delay, run = _replicate(world, tmp_path, sandbox, "e2e-bridge-retry")
    print(f"retried-success verdict {delay:.2f}s after the last webhook")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeed (succeeded); tasks: 3 total, 3 succeeded" in result.stdout
    web = [s for _, task, s, _ in run["notified"] if task == max(t for _, t, s, _ in run["notified"] if s == "Error")]
    assert web == ["Running", "Error", "Running", "Success"]
    assert delay <= VERDICT_WITHIN


def test_with_the_bridge_stopped_the_verdict_comes_from_polling_harbor(world, tmp_path, sandbox):
    harbor, bridge = world
    tenant = sandbox.tenants[0]
    path = wired_file(tmp_path, harbor, harbor.target.url, bridge.url, tenant, "e2e-bridge-down", repositories="web")
    assert cli("apply", "-f", str(path), "--yes", env=cli_env(tenant)).returncode == 0
    bridge.stop()
    result = cli("replicate", "e2e-bridge-down", "-f", str(path), "--wait", "--timeout", "180", "--interval", "1",
                 "--progress", "lines", env=cli_env(tenant))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"bridge: the bridge at {bridge.url} is unreachable (ConnectionError); polling Harbor instead" \
        in result.stderr
    assert "Succeed (succeeded); tasks: 1 total, 1 succeeded" in result.stdout


def _api_gets(bridge, execution_id: int) -> int:
    lines = [json.loads(line) for line in bridge.log_text().splitlines() if line.startswith("{")]
    return sum(1 for f in lines if f.get("path") == f"/api/v1/executions/{execution_id}")


def test_a_long_wait_costs_one_request_per_long_poll_and_none_to_harbor(world, tmp_path, sandbox):
    """Real counts with a 1 s long poll over an execution that runs ~8 s; the CLI's poll is 30 s, so a
    10-minute wait costs 600 / 30 = 20 requests to the bridge by the same arithmetic, and none to Harbor."""
    harbor, bridge = world
    tenant = sandbox.tenants[0]
    path = wired_file(tmp_path, harbor, harbor.target.url, bridge.url, tenant, "e2e-bridge-slow", repositories="web")
    assert cli("apply", "-f", str(path), "--yes", env=cli_env(tenant)).returncode == 0
    harbor.state.attempt_delay = 8.0  # one long transfer
    policy = next(p for p in harbor.state.policies.values() if p["name"] == "e2e-bridge-slow")
    execution = harbor.state.start_execution(policy)
    before = len(harbor.double.requests)
    with requests.Session() as session:
        follower = BridgeFollower(BridgeTarget(bridge.url, API_TOKEN), session, poll=1.0)
        started = time.monotonic()
        snap, _ = follower.follow(execution["id"], timeout=60)
    waited = time.monotonic() - started
    print(f"waited {waited:.1f}s with {follower.requests} requests to the bridge (1 s long polls)")
    assert snap.execution.status == "Succeed" and waited >= 8
    assert follower.requests <= int(waited / 1.0) + 1
    # The server's own count, from its access log (a line is written just after its answer).
    assert wait_for(lambda: _api_gets(bridge, execution["id"]) == follower.requests, timeout=10)
    assert [r for r in harbor.double.requests[before:] if r.headers.get("Authorization") == admin_header()] == []
