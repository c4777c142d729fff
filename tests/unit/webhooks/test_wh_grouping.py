"""Grouping per execution: one summary, final after the quiet period or when Harbor says so, then one alert."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from adapter.webhooks.harbor import ExecutionView, FailedTask, HarborUnavailable
from adapter.webhooks.middleware import dispatch_once
from adapter.webhooks.store import alerts, deliveries, executions, tasks
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import post

ALL_STATUSES = [{"match": {"status": ["failed", "succeeded", "stopped"]}, "sinks": ["ops-http"]}]


def rows(bridge, table, *where):
    with bridge.store.read() as conn:
        return conn.execute(sa.select(table).where(*where)).all()


def send(client, docs):
    for doc in docs:
        assert post(client, doc).status_code == 200


def test_task_events_fold_into_one_summary(make_app):
    app = make_app(routes=ALL_STATUSES)
    client, bridge = app.test_client(), app.extensions["webhooks"]
    send(client, payloads.execution_stream(5, 4, failed={2}))
    summary = bridge.grouper.summary(bridge.store.engine.connect(), rows(bridge, executions)[0])
    assert summary["counts"] == {"succeeded": 3, "failed": 1, "stopped": 0, "running": 0}
    assert summary["status"] == "failed" and summary["total"] == 4 and summary["policy"] == "prod-sync"
    assert summary["trigger"] == "manual" and summary["project"] == "library"
    assert summary["failed_artifacts"] == [{"task_id": 5002, "repository": "library/app2",
                                            "references": ["v1", "latest"], "reference_count": 2, "reason": "",
                                            "failures": 3}]
    assert summary["duration"] == 1714557600 + 5 - 1714557590


def test_quiet_period_finalises_once_with_one_alert(make_app):
    app = make_app(routes=ALL_STATUSES, quiet_period="30s")
    client, bridge = app.test_client(), app.extensions["webhooks"]
    send(client, payloads.execution_stream(6, 3))
    now = time.time()
    assert dispatch_once(app, now + 10)["finalized"] == 0  # not quiet for long enough yet
    assert dispatch_once(app, now + 31)["finalized"] == 1
    assert dispatch_once(app, now + 90)["finalized"] == 0
    (execution,) = rows(bridge, executions)
    assert execution.state == "final" and execution.status == "succeeded"
    assert json.loads(execution.summary)["counts"]["succeeded"] == 3
    (alert,) = rows(bridge, alerts)
    assert alert.kind == "execution" and alert.status == "succeeded" and alert.alert_key == "execution:6:1:route1"
    assert alert.title == "Replication succeeded: prod-sync"
    assert [d.sink for d in rows(bridge, deliveries)] == ["ops-http"]


def test_a_late_event_reopens_and_the_update_is_a_second_alert(make_app):
    app = make_app(routes=ALL_STATUSES, quiet_period="30s")
    client, bridge = app.test_client(), app.extensions["webhooks"]
    send(client, payloads.execution_stream(7, 1))
    dispatch_once(app, time.time() + 31)
    # Harbor ran the task again after our quiet period: it fails this time, and no retry follows.
    send(client, [payloads.default("Error", execution_id=7, task_id=7001, repo="app1", occur_at=1714557700)])
    (execution,) = rows(bridge, executions)
    assert execution.state == "open" and execution.revision == 2
    assert dispatch_once(app, time.time() + 31)["finalized"] == 0  # a retry may still come (harbor#14986)
    dispatch_once(app, time.time() + 151)
    keys = sorted((a.alert_key, a.status, a.title) for a in rows(bridge, alerts))
    assert keys == [("execution:7:1:route1", "succeeded", "Replication succeeded: prod-sync"),
                    ("execution:7:2:route1", "failed", "Replication failed: prod-sync (update 2)")]


def test_out_of_order_events_keep_the_latest_status(make_app):
    app = make_app()
    client, bridge = app.test_client(), app.extensions["webhooks"]
    ids = {"execution_id": 8, "task_id": 8001}
    send(client, [payloads.default("Success", occur_at=1714557605, **ids),
                  payloads.default("Running", occur_at=1714557600, **ids),
                  payloads.default("Running", occur_at=1714557605, **ids)])  # same second as Success: still Success
    (task,) = rows(bridge, tasks)
    assert task.status == "succeeded" and task.repository == "library/busybox"


def test_a_retried_task_that_recovers_counts_as_succeeded(make_app):
    app = make_app()
    client, bridge = app.test_client(), app.extensions["webhooks"]
    ids = {"execution_id": 9, "task_id": 9001}
    send(client, [payloads.default(s, occur_at=t, **ids) for s, t in
                  [("Running", 100), ("Error", 110), ("Running", 140), ("Error", 150), ("Running", 200),
                   ("Success", 230)]])
    (task,) = rows(bridge, tasks)
    assert task.status == "succeeded" and task.failures == 2


def test_tasks_silent_at_the_deadline_make_a_failed_incomplete_summary(make_app):
    app = make_app(routes=ALL_STATUSES, quiet_period="30s")
    client, bridge = app.test_client(), app.extensions["webhooks"]
    send(client, [payloads.default("Running", execution_id=10, task_id=10001)])
    dispatch_once(app, time.time() + 31)
    summary = json.loads(rows(bridge, executions)[0].summary)
    assert summary["status"] == "failed" and summary["incomplete"] is True
    assert "1 without a final status" in rows(bridge, alerts)[0].text


def test_routes_pick_by_status_and_policy(make_app):
    app = make_app(routes=[{"match": {"status": "failed"}, "sinks": ["ops-http"], "name": "failures"},
                           {"match": {"status": "succeeded", "policy": "prod-*"}, "sinks": ["ops-http"]}])
    client, bridge = app.test_client(), app.extensions["webhooks"]
    send(client, payloads.execution_stream(11, 1, description="prod-eu"))
    send(client, payloads.execution_stream(12, 1, description="dev-eu"))
    send(client, payloads.execution_stream(13, 1, failed={1}, description="dev-eu"))
    dispatch_once(app, time.time() + 61)
    assert sorted(a.alert_key for a in rows(bridge, alerts)) == ["execution:11:1:route2", "execution:13:1:failures"]


def test_per_task_routes_alert_at_intake_once_per_failed_task(make_app):
    app = make_app(routes=[{"per": "task", "sinks": ["ops-http"]}])
    client, bridge = app.test_client(), app.extensions["webhooks"]
    ids = {"execution_id": 14, "task_id": 14001}
    send(client, [payloads.default("Running", occur_at=100, **ids), payloads.default("Error", occur_at=110, **ids),
                  payloads.default("Error", occur_at=150, **ids), payloads.default("Success", execution_id=14,
                                                                                   task_id=14002)])
    (alert,) = rows(bridge, alerts)
    assert alert.kind == "task" and alert.alert_key == "task:14:14001:route1" and alert.status == "failed"
    assert alert.title == "Replication task failed: library/busybox"
    assert len(rows(bridge, deliveries)) == 1


def test_per_event_routes_cover_other_event_types(make_app):
    app = make_app(routes=[{"per": "event", "match": {"event_type": "PUSH_ARTIFACT"}, "sinks": ["ops-http"]}])
    client, bridge = app.test_client(), app.extensions["webhooks"]
    send(client, [payloads.push_artifact(), payloads.default("Error")])
    (alert,) = rows(bridge, alerts)
    assert alert.kind == "event" and alert.title == "Harbor PUSH_ARTIFACT"
    assert json.loads(alert.data)["payload"]["event_data"]["repository"]["name"] == "busybox"


def test_route_templates_override_the_defaults(make_app):
    route = {"match": {"status": "failed"}, "sinks": ["ops-http"],
             "template": {"title": "{{ project }}: {{ counts.failed }}/{{ total }} failed",
                          "text": "{% for a in failed_artifacts %}{{ a.repository }} {% endfor %}"}}
    app = make_app(routes=[route])
    send(app.test_client(), payloads.execution_stream(15, 3, failed={1, 3}))
    dispatch_once(app, time.time() + 61)
    (alert,) = rows(app.extensions["webhooks"], alerts)
    assert (alert.title, alert.text) == ("library: 2/3 failed", "library/app1 library/app3")


class FakeHarbor:
    """An ExecutionSource with scripted answers, for the Harbor-driven path's decisions."""

    def __init__(self, *views):
        self.views, self.asked = list(views), []

    def execution(self, execution_id):
        self.asked.append(execution_id)
        view = self.views.pop(0) if len(self.views) > 1 else self.views[0]
        if isinstance(view, Exception):
            raise view
        return view

    def failed_tasks(self, execution_id):
        return [FailedTask(20002, "library/app2", "pushing blob: 413 too large", ["line 1", "line 2"])]


def harbor_app(make_app, source, **overrides):
    app = make_app(routes=ALL_STATUSES, quiet_period="30s", **overrides)
    bridge = app.extensions["webhooks"]
    bridge.grouper.source = source  # what `harbor:` would configure, without a live Harbor
    bridge.grouper.harbor_url = "https://harbor.example.com"
    return app, bridge


def test_harbor_decides_when_the_execution_is_final(make_app):
    running = ExecutionView("running")
    final = ExecutionView("failed", 4, "prod-sync-eu", "", {"succeeded": 1, "failed": 1, "stopped": 0, "running": 0},
                          1000.0, 1042.0)
    source = FakeHarbor(running, final)
    app, bridge = harbor_app(make_app, source)
    # Task 2 failed once: jobservice may still retry it, whatever Harbor's status says meanwhile.
    send(app.test_client(), payloads.execution_stream(20, 1) + [
        payloads.default(s, execution_id=20, task_id=20002, repo="app2", occur_at=t)
        for s, t in (("Running", 1714557602), ("Error", 1714557603))])
    now = time.time()
    assert dispatch_once(app, now)["finalized"] == 0  # Harbor: still running
    assert dispatch_once(app, now + 5)["finalized"] == 0  # poll interval not yet over
    assert dispatch_once(app, now + 40)["finalized"] == 0  # Failed, but a retry may still come (harbor#14986)
    assert dispatch_once(app, now + 160)["finalized"] == 1  # no retry came within jobservice's longest backoff
    summary = json.loads(rows(bridge, executions)[0].summary)
    assert summary["source"] == "harbor" and summary["policy"] == "prod-sync-eu" and summary["duration"] == 42
    assert summary["failed_artifacts"][0]["reason"] == "pushing blob: 413 too large"
    assert summary["link"] == "https://harbor.example.com/harbor/replications/20/tasks"
    assert "pushing blob: 413 too large" in rows(bridge, alerts)[0].text
    assert source.asked == [20, 20, 20]


def test_every_task_final_and_harbor_counting_as_many_decide_without_its_status(make_app):
    # Harbor's status trails its tasks by up to 30 s; its counters do not. Three attempts of task 2 all failed.
    counted = ExecutionView("running", counts={"succeeded": 1, "failed": 1, "stopped": 0, "running": 0})
    source = FakeHarbor(counted)
    app, bridge = harbor_app(make_app, source)
    send(app.test_client(), payloads.execution_stream(22, 2, failed={2}))
    assert dispatch_once(app, time.time())["finalized"] == 1
    summary = json.loads(rows(bridge, executions)[0].summary)
    assert summary["status"] == "failed" and summary["counts"]["failed"] == 1 and summary["incomplete"] is False
    assert summary["failed_artifacts"][0]["log_tail"] == ["line 1", "line 2"]


def test_all_tasks_final_but_harbor_counting_more_waits_for_the_rest(make_app):
    more = ExecutionView("running", counts={"succeeded": 2, "failed": 0, "stopped": 0, "running": 1})
    source = FakeHarbor(more)
    app, bridge = harbor_app(make_app, source)
    send(app.test_client(), payloads.execution_stream(23, 2))
    now = time.time()
    assert dispatch_once(app, now)["finalized"] == 0  # a third task has not reported yet
    send(app.test_client(), [payloads.default("Success", execution_id=23, task_id=23003, repo="app3")])
    source.views = [ExecutionView("running", counts={"succeeded": 3, "failed": 0, "stopped": 0, "running": 0})]
    assert dispatch_once(app, now + 1)["finalized"] == 1  # the new event makes it due before the poll interval
    assert rows(bridge, executions)[0].status == "succeeded"


def test_when_harbor_stays_away_the_events_decide_after_max_wait(make_app):
    app, bridge = harbor_app(make_app, FakeHarbor(HarborUnavailable("HarborUnreachable")))
    bridge.grouper.max_wait = 600
    send(app.test_client(), payloads.execution_stream(21, 1))
    now = time.time()
    assert dispatch_once(app, now + 60)["finalized"] == 0
    assert dispatch_once(app, now + 601)["finalized"] == 1
    assert json.loads(rows(bridge, executions)[0].summary)["source"] == "events"


def test_router_statuses_tell_which_events_can_raise_task_alerts():
    from adapter.webhooks.routes import Router

    def statuses(*routes):
        return Router([{"sinks": ["s"], "match": {}, **r} for r in routes]).statuses("task")

    assert statuses() == set() and statuses({"per": "execution"}) == set()
    assert statuses({"per": "task"}) == {"failed"}  # per task defaults to failures
    assert statuses({"per": "task", "match": {"status": ("stopped", "failed")}}) == {"stopped", "failed"}
    assert statuses({"per": "task", "match": {"status": ("fail*",)}}) is None
