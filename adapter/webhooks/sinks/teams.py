"""The Teams sink: a Workflows (Power Automate) webhook carrying one Adaptive Card."""

from __future__ import annotations

import json

from adapter.webhooks.sinks import Sink

COLORS = {"failed": "Attention", "stopped": "Warning", "succeeded": "Good"}


def card(alert: dict) -> dict:
    data = alert["data"]
    facts = [("Status", alert["status"]), ("Policy", data.get("policy")), ("Project", data.get("project")),
             ("Execution", data.get("execution_id")), ("Trigger", data.get("trigger"))]
    body = [
        {"type": "TextBlock", "text": alert["title"], "weight": "Bolder", "size": "Medium", "wrap": True,
         "color": COLORS.get(alert["status"], "Default")},
        {"type": "TextBlock", "text": alert["text"], "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": str(v)} for k, v in facts if v not in (None, "")]},
    ]
    if data.get("link"):
        body.append({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "Open in Harbor",
                                                        "url": data["link"]}]})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "msteams": {"width": "Full"}, "body": body}


class TeamsSink(Sink):
    def build(self, alert: dict) -> tuple[str, bytes, dict]:
        message = {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card(alert)}]}
        return self.url, json.dumps(message).encode(), {}
