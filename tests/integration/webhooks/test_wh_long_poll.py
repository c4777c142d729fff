"""GET /api/v1/executions/<id>?wait=final: a long poll, woken by a change committed on another replica.

Two apps on one store are two replicas: PostgreSQL wakes them through LISTEN/NOTIFY, SQLite through
data_version (one host).
"""

from __future__ import annotations

import threading
import time

from adapter.webhooks.middleware import dispatch_once
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import api_get, post


def timed_get(client, path: str):
    started = time.monotonic()
    resp = api_get(client, path)
    return resp, time.monotonic() - started


class Waiting(threading.Thread):
    """A long poll in a thread of its own."""

    def __init__(self, client, path: str):
        super().__init__(daemon=True)
        self.client, self.path, self.resp, self.took = client, path, None, None

    def run(self):
        self.resp, self.took = timed_get(self.client, self.path)


def test_a_settled_execution_answers_at_once_and_an_open_one_after_the_timeout(make_app):
    app = make_app(quiet_period="30s")
    client = app.test_client()
    for doc in payloads.execution_stream(81, 2) + payloads.execution_stream(82, 1):
        assert post(client, doc).status_code == 200
    dispatch_once(app, time.time() + 31)
    post(client, payloads.default("Running", execution_id=83, task_id=83001))
    settled, took = timed_get(client, "/executions/81?wait=final&timeout=30s")
    assert settled.status_code == 200 and settled.json["settled"] is True and took < 5
    assert [t["done"] for t in settled.json["tasks"]] == [True, True]
    still, took = timed_get(client, "/executions/83?wait=final&timeout=1s")
    assert still.status_code == 200 and still.json["settled"] is False and still.json["state"] == "open"
    assert 1 <= took < 10 and still.json["version"] == 2
    missing, took = timed_get(client, "/executions/84?wait=final&timeout=500ms")
    assert missing.status_code == 404 and took >= 0.5


def test_a_change_on_another_replica_wakes_the_waiter(make_app):
    one, other = make_app(quiet_period="30s"), make_app(quiet_period="30s")
    post(other.test_client(), payloads.default("Running", execution_id=85, task_id=85001, occur_at=1714557601))
    version = api_get(one.test_client(), "/executions/85").json["version"]
    waiter = Waiting(one.test_client(), f"/executions/85?wait=final&timeout=20s&since={version}")
    waiter.start()
    time.sleep(0.5)
    post(other.test_client(), payloads.default("Success", execution_id=85, task_id=85001, occur_at=1714557605))
    waiter.join(25)
    assert waiter.resp.status_code == 200 and waiter.resp.json["version"] > version
    assert waiter.took < 5, f"woken after {waiter.took:.1f}s"  # the change, not the 20 s timeout

    # Without since only a verdict ends the poll: the other replica finalising it.
    final = Waiting(one.test_client(), "/executions/85?wait=final&timeout=20s")
    final.start()
    time.sleep(0.5)
    assert dispatch_once(other, time.time() + 31)["finalized"] == 1
    final.join(25)
    assert final.resp.json["settled"] is True and final.took < 5, f"woken after {final.took:.1f}s"


def test_waiters_are_bounded_per_process(make_app):
    app = make_app()
    app.extensions["webhooks"].waiters.limit = 1
    post(app.test_client(), payloads.default("Running", execution_id=86, task_id=86001))
    holding = Waiting(app.test_client(), "/executions/86?wait=final&timeout=3s")
    holding.start()
    time.sleep(0.5)
    refused = api_get(app.test_client(), "/executions/86?wait=final&timeout=3s")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.json["error"]["code"] == "TOO_MANY_WAITERS"
    assert api_get(app.test_client(), "/executions/86").status_code == 200  # a plain read is not a waiter
    holding.join(10)
    assert holding.resp.status_code == 200 and app.extensions["webhooks"].waiters.count == 0


def test_bad_wait_parameters_are_400s_naming_them(make_app):
    client = make_app().test_client()
    for query, field in (("wait=soon", "wait"), ("wait=final&timeout=61s", "timeout"),
                         ("wait=final&timeout=30", "timeout"), ("wait=final&since=-1", "since")):
        resp = api_get(client, f"/executions/1?{query}")
        assert resp.status_code == 400 and resp.json["error"]["code"] == "INVALID_QUERY", query
        assert list(resp.json["error"]["fields"]) == [field], query
