"""Harbor-driven finalisation through harbor_client, against the strict Harbor double."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from adapter.webhooks.middleware import dispatch_once
from adapter.webhooks.store import alerts, executions
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import post

LOG = """2024-05-01T10:00:01Z [INFO] [/pkg/reg/adapter/native/adapter.go:36]: native adapter
2024-05-01T10:00:03Z [ERROR] [/controller/replication/transfer/image/transfer.go:412]: failed to push blob sha256:aa: http status code: 413, body: layer too large
2024-05-01T10:00:03Z [INFO] [/jobservice/runner/redis.go:120]: Job 'REPLICATION:0d1c' exit with error
"""


def test_harbor_says_when_the_execution_is_final_and_the_log_says_why(make_app, harbor_double, harbor_state,
                                                                       monkeypatch):
    monkeypatch.setenv("HARBOR_PASSWORD", "Harbor12345")
    registry = harbor_state.add_registry("relay")
    policy = harbor_state.add_policy("prod-sync-eu", dest_registry_id=registry["id"])
    execution = harbor_state.add_execution(policy["id"])
    ok = harbor_state.add_task(execution["id"], status="Succeed", src_resource="library/app1 [1 item(s) in total]")
    bad = harbor_state.add_task(execution["id"], status="Failed", log=LOG,
                                src_resource="library/app2 [1 item(s) in total]")
    app = make_app(quiet_period="30s", routes=[{"match": {"status": "failed"}, "sinks": ["ops-http"]}],
                   harbor={"url": harbor_double.url, "username": "admin", "password_env": "HARBOR_PASSWORD",
                           "poll_interval": "10s"})
    client, bridge = app.test_client(), app.extensions["webhooks"]
    for task, status, repo in ((ok, "Success", "app1"), (bad, "Error", "app2")):
        common = {"execution_id": execution["id"], "task_id": task["id"], "repo": repo}
        assert post(client, payloads.default("Running", occur_at=1714557601, **common)).status_code == 200
        assert post(client, payloads.default(status, occur_at=1714557603, **common)).status_code == 200
    now = time.time()
    assert dispatch_once(app, now)["finalized"] == 0  # Harbor: InProgress
    execution.update(status="Failed", end_time="2024-05-01T10:00:42.000Z")
    assert dispatch_once(app, now + 11)["finalized"] == 0  # Failed, but inside the quiet period
    assert dispatch_once(app, now + 31)["finalized"] == 0  # one Error of three attempts: a retry may come
    assert dispatch_once(app, now + 151)["finalized"] == 1  # none came within jobservice's longest backoff
    with bridge.store.read() as conn:
        summary = json.loads(conn.execute(sa.select(executions.c.summary)).scalar_one())
        title, text = conn.execute(sa.select(alerts.c.title, alerts.c.text)).one()
    assert summary["source"] == "harbor" and summary["policy"] == "prod-sync-eu"
    assert summary["policy_id"] == policy["id"]
    assert summary["counts"] == {"succeeded": 1, "failed": 1, "stopped": 0, "running": 0}
    (failed,) = summary["failed_artifacts"]
    assert failed["repository"] == "library/app2" and failed["references"] == ["v1", "latest"]
    assert failed["reason"].startswith("failed to push blob sha256:aa: http status code: 413")
    assert title == "Replication failed: prod-sync-eu"
    assert "layer too large" in text and f"/harbor/replications/{execution['id']}/tasks" in text
    assert harbor_double.count("GET", "/replication/executions/{id}") == 4
    assert harbor_double.count("GET", "/replication/executions/{id}/tasks/{task_id}/log") == 1
