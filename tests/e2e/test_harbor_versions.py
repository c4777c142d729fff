"""Harbor before 2.13 end to end: webhooks without ids still alert with Harbor's execution id, and an execution
that fails before any task (PrepareForPush refused, so no webhook at all) alerts through the watcher."""

import json

from tests.e2e.test_harbor_to_alert import alerts_for
from tests.e2e.world import Harbor, bridge_env, bridge_file, cli, endpoint_with_bridge, wait_for


def test_a_2_10_harbor_without_ids_alerts_with_the_resolved_execution_id(sandbox, harbor_registry, alertmanager,
                                                                         tmp_path):
    tenant, rule = sandbox.tenants[0], "e2e-v210"
    with Harbor(harbor_registry.url, harbor_version="v2.10.3-c1f3b4d5") as harbor, \
            endpoint_with_bridge(tmp_path, sandbox, alertmanager.url, harbor.url) as endpoint:
        env = bridge_env(tenant)
        path = bridge_file(tmp_path / "bridge.yaml", harbor_url=harbor.url, endpoint_url=endpoint.url,
                           tenant=tenant, rule=rule, namespace=f"{rule}-org", repositories="web")
        applied = cli("apply", "-f", str(path), "--yes", env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "Harbor 2.10.3 sends REPLICATION webhooks without execution or task ids" in applied.stderr
        replicated = cli("replicate", rule, "-f", str(path), "--wait", "--timeout", "120", env=env)
        assert replicated.returncode == 0, replicated.stdout + replicated.stderr + endpoint.log_text()[-3000:]
        run = next(iter(harbor.state.runs.values()))
        sent = [json.loads(body) for body in run.get("bodies", [])]
        assert sent and all("execution_id" not in b["event_data"]["replication"] for b in sent)
        alerts = wait_for(lambda: alerts_for(alertmanager, rule), timeout=60)
        assert len(alerts) == 1, json.dumps(alerts, indent=1)
        assert alerts[0]["labels"]["alertname"] == "HarborReplicationSucceeded"
        assert alerts[0]["annotations"]["execution_id"] == str(run["execution"]["id"])


def test_prepare_for_push_refused_sends_no_webhook_and_the_watcher_alerts(harbor_registry, alertmanager, tmp_path):
    from adapter.sandbox.runner import Sandbox

    with Sandbox(tmp_path / "sbx", org_quota=1) as sandbox:
        tenant, rule = sandbox.tenants[0], "e2e-prepare"
        sandbox.create_organization(tenant, "already-here")  # the only organization the quota allows
        with Harbor(harbor_registry.url, harbor_version="v2.12.0-0a1b2c3d") as harbor, \
                endpoint_with_bridge(tmp_path, sandbox, alertmanager.url, harbor.url,
                                     watch={"interval": "2s", "policies": "e2e-*"}) as endpoint:
            env = bridge_env(tenant)
            path = bridge_file(tmp_path / "bridge.yaml", harbor_url=harbor.url, endpoint_url=endpoint.url,
                               tenant=tenant, rule=rule, namespace="over-quota", provider="huawei-SWR",
                               repositories="web")
            assert cli("apply", "-f", str(path), "--yes", env=env).returncode == 0
            replicated = cli("replicate", rule, "-f", str(path), "--wait", "--timeout", "60", "--settle", "1",
                             "--interval", "1", env=env)
            assert replicated.returncode == 1, replicated.stdout + replicated.stderr
            run = next(iter(harbor.state.runs.values()))
            assert not run.get("deliveries") and not harbor.state.tasks_of(run["execution"]["id"])
            alerts = wait_for(lambda: alerts_for(alertmanager, rule), timeout=30)
            assert len(alerts) == 1, json.dumps(alerts, indent=1)
            alert = alerts[0]
            assert alert["labels"]["alertname"] == "HarborReplicationFailed"
            assert alert["annotations"]["execution_id"] == str(run["execution"]["id"])
            assert "cannot create organization 'over-quota'" in alert["annotations"]["description"]
