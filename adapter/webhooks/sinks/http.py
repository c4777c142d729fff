"""The generic HTTP sink: the alert as JSON, signed per Standard Webhooks (webhook-id, -timestamp, -signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from adapter.webhooks.sinks import Sink, env_value
from harbor_client.units import isotime

EVENT_TYPES = {"execution": "harbor.replication.execution", "task": "harbor.replication.task",
               "event": "harbor.event"}


def signing_key(secret: str) -> bytes:
    """A `whsec_<base64>` secret is the base64 key, as the spec has it; any other string is used as is."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def sign(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class HttpSink(Sink):
    def __init__(self, name, conf, session):
        super().__init__(name, conf, session)
        self.key = signing_key(env_value(conf["secret_env"], f"webhooks.sinks.{name}.secret_env"))

    def build(self, alert: dict) -> tuple[str, bytes, dict]:
        now = int(time.time())
        message_id = self.message_id(alert)
        body = json.dumps({
            "type": EVENT_TYPES[alert["kind"]], "timestamp": isotime(now),
            "data": {"alert": alert["alert_key"], "status": alert["status"], "title": alert["title"],
                     "text": alert["text"], **alert["data"]},
        }).encode()
        headers = {"webhook-id": message_id, "webhook-timestamp": str(now),
                   "webhook-signature": sign(self.key, message_id, str(now), body)}
        return self.url, body, headers
