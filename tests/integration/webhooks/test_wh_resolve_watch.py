"""Harbor < 2.13 sends no execution id: the bridge finds it in Harbor's executions API (strict double),
and its watcher alerts for executions that failed before any task, when no webhook comes at all."""

from __future__ import annotations

import json
import time
from datetime import datetime

import sqlalchemy as sa

from adapter.webhooks.middleware import dispatch_once
from adapter.webhooks.store import alerts, executions
from tests.integration.webhooks.test_wh_harbor import LOG
from tests.unit.webhooks import harbor_versions as hv
from tests.unit.webhooks.helpers import api_get, post

HARBOR = {"username": "admin", "password_env": "HARBOR_PASSWORD", "poll_interval": "10s"}


def epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def seed_execution(state, *, description="library -> relay", status="InProgress"):
    registry = state.add_registry("relay")
    policy = state.add_policy("prod-sync-eu", dest_registry_id=registry["id"], description=description,
                              filters=[{"type": "name", "value": "library/**"}])
    # Same destination and start second, another policy: the description tells them apart.
    decoy = state.add_policy("nightly", dest_registry_id=registry["id"], description="nightly copy")
    state.add_execution(decoy["id"])
    execution = state.add_execution(policy["id"], status=status)
    return policy, execution


def alert_rows(bridge) -> list:
    with bridge.store.read() as conn:
        return conn.execute(sa.select(alerts.c.title, alerts.c.text, alerts.c.data)).all()


def test_a_pre_2_13_execution_resolves_to_harbors_id_and_its_alert_has_the_log_tail(make_app, harbor_double,
                                                                                      harbor_state, monkeypatch):
    monkeypatch.setenv("HARBOR_PASSWORD", "Harbor12345")
    _, execution = seed_execution(harbor_state)
    harbor_state.add_task(execution["id"], status="Succeed", src_resource="library/app1 [2 item(s) in total]")
    harbor_state.add_task(execution["id"], status="Failed", log=LOG, src_resource="library/app2 [2 item(s) in total]")
    app = make_app(quiet_period="30s", harbor={"url": harbor_double.url, **HARBOR})
    client, bridge = app.test_client(), app.extensions["webhooks"]
    docs = hv.execution("2.10", started=epoch(execution["start_time"]))
    for doc in docs + docs:
        assert post(client, hv.body(doc)).status_code == 200
    now = time.time()
    # Harbor still says InProgress, but every task's final status is in and Harbor counts two: final.
    assert dispatch_once(app, now)["finalized"] == 1
    (listed,) = api_get(client, "/executions").get_json()["items"]
    assert listed["execution_id"] == execution["id"] and listed["key"] < 0 and listed["state"] == "final"
    assert api_get(client, f"/executions/{execution['id']}").get_json()["key"] == listed["key"]
    found = api_get(client, f"/events?execution_id={execution['id']}").get_json()["items"]
    assert len(found) == len(docs) and {(e["execution_id"], e["execution_key"]) for e in found} == {
        (execution["id"], listed["key"])}
    (alert,) = alert_rows(bridge)
    data = json.loads(alert.data)
    assert data["execution_id"] == execution["id"] and data["source"] == "harbor"
    (failed,) = data["failed_artifacts"]
    assert failed["repository"] == "library/app2" and failed["references"] == ["v1", "latest"]
    assert any("layer too large" in line for line in failed["log_tail"])
    assert failed["reason"].startswith("failed to push blob sha256:aa")
    assert f"execution {execution['id']}," in alert.text and "layer too large" in alert.text
    # One policy list, then only the matching policy's executions were read to resolve.
    assert harbor_double.count("GET", "/replication/executions") == 1


def test_no_matching_execution_in_harbor_leaves_it_unresolved_and_summarised_from_events(
        make_app, harbor_double, harbor_state, monkeypatch):
    monkeypatch.setenv("HARBOR_PASSWORD", "Harbor12345")
    _, execution = seed_execution(harbor_state)
    app = make_app(quiet_period="30s", harbor={"url": harbor_double.url, **HARBOR})
    client = app.test_client()
    for doc in hv.execution("2.2", started=epoch(execution["start_time"]) - 3600):  # no such start in Harbor
        assert post(client, hv.body(doc)).status_code == 200
    now = time.time()
    assert dispatch_once(app, now)["finalized"] == 0  # not quiet yet
    assert dispatch_once(app, now + 31)["finalized"] == 1
    (alert,) = alert_rows(app.extensions["webhooks"])
    data = json.loads(alert.data)
    assert data["execution_id"] == "unresolved" and data["source"] == "events" and data["link"] is None
    assert "execution unresolved," in alert.text
    (listed,) = api_get(client, "/executions").get_json()["items"]
    assert listed["execution_id"] == "unresolved"


def test_the_watcher_alerts_once_for_an_execution_that_failed_before_any_task(make_app, harbor_double,
                                                                               harbor_state, monkeypatch):
    monkeypatch.setenv("HARBOR_PASSWORD", "Harbor12345")
    reason = "failed to prepare for push: cannot create organization 'over-quota': quota exhausted"
    policy, failed = seed_execution(harbor_state, status="Failed")
    failed["status_text"] = reason
    running = harbor_state.add_execution(policy["id"])  # not final: not for the watcher
    app = make_app(quiet_period="30s", routes=[{"match": {"status": ["failed", "stopped"]}, "sinks": ["ops-http"]}],
                   harbor={"url": harbor_double.url, **HARBOR, "watch": {"interval": "2s", "policies": "prod-*"}})
    now = time.time()
    assert dispatch_once(app, now)["watched"] == 1
    assert dispatch_once(app, now + 0.5)["watched"] == 0  # not due: one pass per interval across replicas
    assert dispatch_once(app, now + 2.5)["watched"] == 0  # due, but already alerted
    (alert,) = alert_rows(app.extensions["webhooks"])
    data = json.loads(alert.data)
    assert alert.title == "Replication failed: prod-sync-eu"
    assert data["execution_id"] == failed["id"] and data["total"] == 0 and data["status_text"] == reason
    assert data["project"] == "library" and data["trigger"] == "manual" and data["remote_name"] == "relay"
    assert f"Harbor: {reason}" in alert.text
    running.update(status="Stopped", end_time="2024-05-01T10:00:42.000Z")
    assert dispatch_once(app, now + 5)["watched"] == 1  # the stopped one, once
    with app.extensions["webhooks"].store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(executions)).scalar() == 2


def test_groups_of_one_execution_split_by_namespace_alert_once(make_app, harbor_double, harbor_state, monkeypatch):
    # A policy over several projects without a destination namespace: each project's tasks name their own
    # namespace, so before 2.13 they form one group each; both resolve to the one Harbor execution.
    monkeypatch.setenv("HARBOR_PASSWORD", "Harbor12345")
    _, execution = seed_execution(harbor_state, status="Failed")
    harbor_state.add_task(execution["id"], status="Failed", log=LOG, src_resource="team-a/app2 [2 item(s) in total]")
    harbor_state.add_task(execution["id"], status="Failed", log=LOG, src_resource="team-b/app3 [1 item(s) in total]")
    app = make_app(quiet_period="30s", harbor={"url": harbor_double.url, **HARBOR})
    client = app.test_client()
    started = epoch(execution["start_time"])
    docs = [hv.default("2.10", "app2", "Error", started + 2, remote_ns="team-a", started=started),
            hv.default("2.10", "app3", "Error", started + 3, remote_ns="team-b", started=started, refs=("v3",))]
    for doc in docs:
        assert post(client, hv.body(doc)).status_code == 200
    listed = api_get(client, "/executions").get_json()["items"]
    assert len({i["key"] for i in listed}) == 2
    # One Error each: a retry may still come (harbor#14986) until jobservice's longest backoff has passed.
    assert dispatch_once(app, time.time() + 31)["finalized"] == 0
    assert dispatch_once(app, time.time() + 151)["finalized"] == 2
    (alert,) = alert_rows(app.extensions["webhooks"])
    data = json.loads(alert.data)
    assert data["execution_id"] == execution["id"]
    assert sorted(a["repository"] for a in data["failed_artifacts"]) == ["team-a/app2", "team-b/app3"]
