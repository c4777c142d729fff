"""The Alertmanager sink: POST /api/v2/alerts. A failed execution fires an alert that stays active for
`failure_ttl`; a succeeded one resolves it (same labels, endsAt now) and posts a success summary that
expires after `success_ttl`."""

from __future__ import annotations

import json

from adapter.webhooks.sinks import Sink
from harbor_client.units import isotime

ALERT_NAMES = {"execution": "HarborReplicationFailed", "task": "HarborReplicationTaskFailed",
               "event": "HarborEvent"}
SUCCEEDED = "HarborReplicationSucceeded"


def labels(alert: dict, severity: str) -> dict:
    """Labels are the alert's identity: a later success with equal labels resolves the failure."""
    data = alert["data"]
    found = {"alertname": ALERT_NAMES[alert["kind"]], "policy": data.get("policy") or "unknown",
             "project": data.get("project") or "unknown", "severity": severity}
    if alert["kind"] == "task":
        found["repository"] = data.get("repository") or "unknown"
    if alert["kind"] == "event":
        found["event_type"] = data.get("event_type") or "unknown"
    return found


class AlertmanagerSink(Sink):
    def build(self, alert: dict) -> tuple[str, bytes, dict]:
        data = alert["data"]
        item = {
            "labels": labels(alert, self.conf["severity"]),
            "annotations": {"summary": alert["title"], "description": alert["text"], "status": alert["status"],
                            "execution_id": str(data.get("execution_id") or "")},
            "startsAt": isotime(alert["created_at"]),
        }
        if data.get("link"):
            item["generatorURL"] = data["link"]
        items = [item]
        if alert["status"] != "succeeded":
            item["endsAt"] = isotime(alert["created_at"] + self.conf["failure_ttl"])
        elif alert["kind"] == "execution":
            item["endsAt"] = isotime(alert["created_at"])  # resolves the policy's failure alert
            summary = dict(item, labels=dict(item["labels"], alertname=SUCCEEDED, severity="info"),
                           endsAt=isotime(alert["created_at"] + self.conf["success_ttl"]))
            items.append(summary)
        return f"{self.url}/api/v2/alerts", json.dumps(items).encode(), {}
