"""Tokens and secrets never reach the logs, whatever happens: bad tokens, failing sinks, dead letters."""

from __future__ import annotations

import logging
import time

import pytest

from adapter.logs import PROJECT_LOGGERS
from adapter.webhooks.middleware import dispatch_once
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import API_TOKEN, SECRETS, WEBHOOK_TOKEN, api_get, post

EVERY_SINK = {
    "ops-http": {"type": "http", "url": "http://127.0.0.1:9/hook", "secret_env": "OPS_SIGNING_SECRET"},
    "ops-slack": {"type": "slack", "url_env": "SLACK_WEBHOOK_URL"},
    "ops-teams": {"type": "teams", "url_env": "TEAMS_WORKFLOW_URL"},
    "am": {"type": "alertmanager", "url": "http://127.0.0.1:9"},
}


@pytest.fixture
def project_logs(caplog):
    """caplog that also sees the project's loggers, which stop propagating once the app configures them."""
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in PROJECT_LOGGERS]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in loggers:
        logger.removeHandler(caplog.handler)


def test_no_secret_in_any_log_line(make_app, project_logs):
    caplog = project_logs
    app = make_app(sinks=EVERY_SINK, routes=[
        {"match": {"status": "failed"}, "sinks": list(EVERY_SINK)},
        {"per": "task", "sinks": list(EVERY_SINK)}],
        outbox={"autostart": False, "retry_schedule": ["1s"], "max_attempts": 2})
    client = app.test_client()
    for doc in payloads.execution_stream(51, 2, failed={2}):
        assert post(client, doc).status_code == 200
    assert post(client, payloads.default(), token=WEBHOOK_TOKEN + "x").status_code == 401
    assert post(client, b"{broken", token=WEBHOOK_TOKEN).status_code == 400
    assert api_get(client, "/deliveries", token="Bearer " + API_TOKEN[:-1]).status_code == 401
    now = time.time()
    dispatch_once(app, now + 61)
    dispatch_once(app, now + 70)  # second attempt: every sink refuses, rows go dead
    dead = api_get(client, "/deliveries?state=dead").json["items"]
    assert len(dead) == 8  # 4 sinks x (1 execution alert + 1 task alert)
    assert "failed" in caplog.text and "dead" in caplog.text  # the failures were logged ...
    for secret in SECRETS:  # ... without any token, signing secret or secret URL part
        assert secret not in caplog.text
        assert all(secret not in str(d) for d in dead)
