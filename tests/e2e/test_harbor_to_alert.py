"""Harbor → endpoint → SWR → webhook → alert, with real pushes, for each provider and transfer mode."""

import json

import pytest
import requests

from tests.e2e.world import (
    Harbor,
    bridge_env,
    bridge_file,
    cli,
    endpoint_with_bridge,
    wait_for,
)
from tests.integration.relay.helpers import direct_manifest

FLATTENED = {"library/tools/app": "app", "library/web": "web", "library/multi": "multi"}


def alerts_for(alertmanager, policy: str) -> list[dict]:
    found = requests.get(f"{alertmanager.url}/api/v2/alerts", timeout=5,
                         params={"filter": f'policy="{policy}"', "active": "true", "silenced": "true",
                                 "inhibited": "true", "unprocessed": "true"}).json()
    return found


@pytest.mark.parametrize("rule,provider,chunked", [
    ("e2e-registry", "docker-registry", False),
    ("e2e-huawei", "huawei-SWR", False),
    ("e2e-chunked", "docker-registry", True),
])
def test_apply_replicate_and_alert(rule, provider, chunked, sandbox, harbor_registry, alertmanager, tmp_path):
    tenant = sandbox.tenants[0]
    namespace = f"{rule}-org"  # does not exist yet: the endpoint (or PrepareForPush) creates it
    with Harbor(harbor_registry.url, chunk_size=1024 * 1024) as harbor, \
            endpoint_with_bridge(tmp_path, sandbox, alertmanager.url, harbor.url) as endpoint:
        env = bridge_env(tenant)
        path = bridge_file(tmp_path / "bridge.yaml", harbor_url=harbor.url, endpoint_url=endpoint.url,
                           tenant=tenant, rule=rule, namespace=namespace, provider=provider, copy_by_chunk=chunked)
        applied = cli("apply", "-f", str(path), "--yes", env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        replicated = cli("replicate", rule, "-f", str(path), "--wait", "--timeout", "240", env=env)
        assert replicated.returncode == 0, replicated.stdout + replicated.stderr + endpoint.log_text()[-3000:]

        for source, digest in harbor_registry.digests.items():
            repo, tag = source.rsplit(":", 1)
            stored = direct_manifest(sandbox, tenant, f"{namespace}/{FLATTENED[repo]}", tag)
            assert stored.status_code == 200, source
            assert stored.headers["Docker-Content-Digest"] == digest

        run = next(iter(harbor.state.runs.values()))
        assert all(status == 200 for _, status in run.get("deliveries", [])) and run["deliveries"]
        alerts = wait_for(lambda: alerts_for(alertmanager, rule), timeout=60)
        assert len(alerts) == 1, json.dumps(alerts, indent=1)
        assert alerts[0]["labels"]["alertname"] == "HarborReplicationSucceeded"
        assert alerts[0]["labels"]["project"] == "library"
        assert alerts[0]["annotations"]["execution_id"] == str(run["execution"]["id"])


def test_quota_exhausted_fails_the_task_and_alerts_with_the_reason(harbor_registry, alertmanager, tmp_path):
    from adapter.sandbox.runner import Sandbox
    from tests.registries import TEST_STRICT

    with Sandbox(tmp_path / "sbx", org_quota=1, strict=TEST_STRICT) as sandbox:
        tenant = sandbox.tenants[0]
        sandbox.create_organization(tenant, "already-here")  # the only organization the quota allows
        rule = "e2e-quota"
        with Harbor(harbor_registry.url) as harbor, \
                endpoint_with_bridge(tmp_path, sandbox, alertmanager.url, harbor.url) as endpoint:
            env = bridge_env(tenant)
            path = bridge_file(tmp_path / "bridge.yaml", harbor_url=harbor.url, endpoint_url=endpoint.url,
                               tenant=tenant, rule=rule, namespace="over-quota", repositories="web")
            assert cli("apply", "-f", str(path), "--yes", env=env).returncode == 0
            replicated = cli("replicate", rule, "-f", str(path), "--wait", "--timeout", "120", "--settle", "2",
                             "--interval", "1", env=env)
            assert replicated.returncode == 1, replicated.stdout + replicated.stderr
            output = replicated.stdout + replicated.stderr
            assert "library/web" in output  # the failed task, with its reason
            assert "cannot create organization 'over-quota'" in output

            alerts = wait_for(lambda: alerts_for(alertmanager, rule), timeout=60)
            assert len(alerts) == 1, json.dumps(alerts, indent=1)
            alert = alerts[0]
            assert alert["labels"]["alertname"] == "HarborReplicationFailed"
            text = alert["annotations"]["description"]
            reason = next(line for line in text.splitlines() if line.startswith("- library/web"))
            assert "cannot create organization 'over-quota'" in reason, text
