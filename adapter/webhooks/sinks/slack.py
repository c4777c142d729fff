"""The Slack sink: an incoming webhook message with header, section and context blocks."""

from __future__ import annotations

import json

from adapter.webhooks.sinks import Sink


def escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def context_line(alert: dict) -> str:
    data = alert["data"]
    parts = [alert["status"], data.get("project") and f"project {data['project']}",
             data.get("execution_id") and f"execution {data['execution_id']}", data.get("trigger")]
    return " · ".join(p for p in parts if p)


class SlackSink(Sink):
    def build(self, alert: dict) -> tuple[str, bytes, dict]:
        blocks = [
            {"type": "header", "text": {"type": "plain_text", "text": alert["title"][:150] or "Harbor"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": escape(alert["text"])[:3000] or " "}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(context_line(alert)) or " "}]},
        ]
        return self.url, json.dumps({"text": alert["title"], "blocks": blocks}).encode(), {}
