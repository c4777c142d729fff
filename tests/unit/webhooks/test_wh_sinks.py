"""What each sink sends: signed JSON, Slack blocks, a Teams Adaptive Card, Alertmanager alerts."""

from __future__ import annotations

import json

import requests

from adapter.webhooks.sinks import build_sinks
from tests.unit.webhooks.helpers import SIGNING_SECRET, SLACK_URL, TEAMS_URL, verify_standard_webhook

SINKS = {
    "ops-http": {"type": "http", "url": "https://ops.example.com/hook", "secret_env": "OPS_SIGNING_SECRET",
                 "timeout": 7.0},
    "ops-slack": {"type": "slack", "url_env": "SLACK_WEBHOOK_URL", "timeout": 10.0},
    "ops-teams": {"type": "teams", "url_env": "TEAMS_WORKFLOW_URL", "timeout": 10.0},
    "am": {"type": "alertmanager", "url": "http://alertmanager:9093", "severity": "page", "timeout": 10.0,
           "success_ttl": 3600.0, "failure_ttl": 86400.0},
}


class FakeResponse:
    def __init__(self, status, headers=None):
        self.status_code, self.headers = status, headers or {}

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return None


class FakeSession:
    """Records requests at the HTTP boundary and answers from a script."""

    def __init__(self, *answers):
        self.answers, self.sent = list(answers) or [FakeResponse(200)], []

    def request(self, method, url, **kwargs):
        self.sent.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def alert(kind="execution", status="failed", **data):
    return {"delivery_id": 1, "alert_key": f"{kind}:12:1:route1", "kind": kind, "route": "route1", "status": status,
            "title": "Replication failed: prod-sync", "text": "2 task(s): 1 failed <a & b>", "created_at": 1714557600.0,
            "attempt": 1, "data": {"execution_id": 12, "policy": "prod-sync", "project": "library",
                                   "trigger": "manual", "link": None, **data}}


def deliver(name, item, *answers):
    session = FakeSession(*answers)
    outcome = build_sinks({name: SINKS[name]}, session)[name].deliver(item)
    return outcome, session.sent


def test_http_sink_signs_per_standard_webhooks():
    outcome, (sent,) = deliver("ops-http", alert())
    assert outcome.ok and sent["url"] == "https://ops.example.com/hook" and sent["timeout"] == 7.0
    headers, body = sent["headers"], sent["data"]
    assert headers["webhook-signature"].startswith("v1,") and headers["webhook-id"].startswith("msg_")
    assert verify_standard_webhook(SIGNING_SECRET, headers, body)
    doc = json.loads(body)
    assert doc["type"] == "harbor.replication.execution" and doc["data"]["execution_id"] == 12
    assert doc["data"]["status"] == "failed" and doc["data"]["title"] == "Replication failed: prod-sync"


def test_the_message_id_is_stable_across_retries_but_not_across_alerts():
    _, first = deliver("ops-http", alert())
    _, second = deliver("ops-http", alert())
    _, other = deliver("ops-http", alert(kind="task"))
    assert first[0]["headers"]["webhook-id"] == second[0]["headers"]["webhook-id"] != other[0]["headers"]["webhook-id"]


def test_slack_gets_blocks_with_escaped_text():
    outcome, (sent,) = deliver("ops-slack", alert())
    assert outcome.ok and sent["url"] == SLACK_URL
    doc = json.loads(sent["data"])
    assert doc["text"] == "Replication failed: prod-sync"
    assert [b["type"] for b in doc["blocks"]] == ["header", "section", "context"]
    assert doc["blocks"][1]["text"] == {"type": "mrkdwn", "text": "2 task(s): 1 failed &lt;a &amp; b&gt;"}
    assert "execution 12" in doc["blocks"][2]["elements"][0]["text"]


def test_teams_gets_a_workflows_adaptive_card():
    outcome, (sent,) = deliver("ops-teams", alert(link="https://harbor.example.com/harbor/replications/12/tasks"))
    assert outcome.ok and sent["url"] == TEAMS_URL
    doc = json.loads(sent["data"])
    assert doc["type"] == "message"
    (attachment,) = doc["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Replication failed: prod-sync" and card["body"][0]["color"] == "Attention"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts == {"Status": "failed", "Policy": "prod-sync", "Project": "library", "Execution": "12",
                     "Trigger": "manual"}
    assert card["body"][3]["actions"][0]["url"].endswith("/replications/12/tasks")


def test_alertmanager_fires_failures_and_resolves_successes():
    outcome, (sent,) = deliver("am", alert())
    assert outcome.ok and sent["url"] == "http://alertmanager:9093/api/v2/alerts"
    (fired,) = json.loads(sent["data"])
    assert fired["labels"] == {"alertname": "HarborReplicationFailed", "policy": "prod-sync", "project": "library",
                               "severity": "page"}
    # Active for failure_ttl: without endsAt Alertmanager would drop it after its resolve_timeout.
    assert fired["startsAt"] == "2024-05-01T10:00:00Z" and fired["endsAt"] == "2024-05-02T10:00:00Z"
    _, (sent,) = deliver("am", alert(status="succeeded"))
    resolved, summary = json.loads(sent["data"])
    assert resolved["labels"] == fired["labels"] and resolved["endsAt"] == "2024-05-01T10:00:00Z"
    # The success summary stays listed for success_ttl (default 1 h), then expires by itself.
    assert summary["labels"] == dict(fired["labels"], alertname="HarborReplicationSucceeded", severity="info")
    assert summary["startsAt"] == "2024-05-01T10:00:00Z" and summary["endsAt"] == "2024-05-01T11:00:00Z"


def test_failures_report_status_and_retry_after_without_the_url():
    outcome, _ = deliver("ops-slack", alert(), FakeResponse(429, {"Retry-After": "120"}))
    assert (outcome.ok, outcome.status, outcome.retry_after, outcome.error) == (False, 429, 120.0, "HTTP 429")
    outcome, _ = deliver("ops-slack", alert(), FakeResponse(500))
    assert (outcome.ok, outcome.status, outcome.retry_after) == (False, 500, None)
    outcome, _ = deliver("ops-slack", alert(), requests.ConnectionError(f"Max retries exceeded with url: {SLACK_URL}"))
    assert outcome.error == "ConnectionError" and "slack-secret" not in outcome.error
    outcome, _ = deliver("ops-slack", alert(), requests.ReadTimeout("read timed out"))
    assert outcome.error == "timeout"


def test_retry_after_as_an_http_date():
    outcome, _ = deliver("am", alert(), FakeResponse(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert outcome.retry_after == 0.0  # in the past: retry now
