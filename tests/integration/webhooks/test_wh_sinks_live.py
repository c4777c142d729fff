"""Sinks against live receivers: a real Alertmanager lists the alert; an HTTP sink that fails twice gets it once."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from adapter.webhooks.middleware import dispatch_once
from adapter.webhooks.store import deliveries
from tests.integration.webhooks.receiver import Receiver
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import SIGNING_SECRET, post, verify_standard_webhook

ALL = ["failed", "succeeded", "stopped"]


def wait_for(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout}s: {check}")


def test_alertmanager_receives_the_alert_and_lists_it(make_app, alertmanager):
    app = make_app(quiet_period="100ms", sinks={"am": {"type": "alertmanager", "url": alertmanager.url}},
                   routes=[{"match": {"status": ALL}, "sinks": ["am"]}])
    client = app.test_client()
    policy = f"prod-{time.time_ns()}"
    for doc in payloads.execution_stream(71, 3, failed={2}, description=policy):
        assert post(client, doc).status_code == 200
    time.sleep(0.2)
    assert dispatch_once(app)["delivered"] == 1
    (alert,) = alertmanager.alerts(filter=f'policy="{policy}"')
    assert alert["labels"] == {"alertname": "HarborReplicationFailed", "policy": policy, "project": "library",
                               "severity": "critical"}
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == f"Replication failed: {policy}"
    assert "library/app2:v1,latest" in alert["annotations"]["description"]
    # The next execution of the policy succeeds: the same labels with endsAt resolve the failure,
    # and Alertmanager holds just the success summary.
    for doc in payloads.execution_stream(72, 3, description=policy):
        assert post(client, doc).status_code == 200
    time.sleep(0.2)
    assert dispatch_once(app)["delivered"] == 1
    (summary,) = alertmanager.alerts(filter=f'policy="{policy}"')
    assert summary["labels"]["alertname"] == "HarborReplicationSucceeded"
    assert summary["annotations"]["execution_id"] == "72"


def test_an_http_sink_failing_twice_gets_exactly_one_successful_signed_delivery(make_app):
    with Receiver(500, 503, 200) as receiver:
        app = make_app(quiet_period="100ms",
                       sinks={"ops-http": {"type": "http", "url": receiver.url, "secret_env": "OPS_SIGNING_SECRET"}},
                       routes=[{"match": {"status": ALL}, "sinks": ["ops-http"]}],
                       outbox={"autostart": False, "retry_schedule": ["200ms"], "max_attempts": 5,
                               "poll_interval": "50ms"})
        for doc in payloads.execution_stream(73, 2, failed={1}):
            assert post(app.test_client(), doc).status_code == 200
        bridge = app.extensions["webhooks"]
        bridge.dispatcher.start()  # the real background thread does the retries
        try:
            wait_for(lambda: [r for r in receiver.requests if r["status"] == 200])
            time.sleep(0.5)  # room for a (wrong) extra delivery to show up
        finally:
            bridge.dispatcher.stop()
    assert [r["status"] for r in receiver.requests] == [500, 503, 200]
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    for sent in receiver.requests:
        assert verify_standard_webhook(SIGNING_SECRET, sent["headers"], sent["body"])
    assert json.loads(receiver.requests[-1]["body"])["data"]["execution_id"] == 73
    with bridge.store.read() as conn:
        row = conn.execute(sa.select(deliveries)).one()
    assert (row.state, row.attempts, row.last_status) == ("delivered", 3, 200)
