"""Constants and helpers shared by the webhook bridge tests (unit and integration)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from contextlib import contextmanager

WEBHOOK_TOKEN = "wh-token-6f1d2c9e8b7a"
WEBHOOK_TOKEN_NEXT = "wh-token-next-0a9b8c7d"
API_TOKEN = "api-token-5e4d3c2b1a09"
SIGNING_SECRET = "whsec_" + "c2lnbmluZy1zZWNyZXQtZm9yLXRlc3RzLTEyMzQ1Ng=="
SLACK_URL = "http://127.0.0.1:9/services/T000/B000/slack-secret-path-XYZ"
TEAMS_URL = "http://127.0.0.1:9/workflows/teams-secret-sig-QRS"
SECRETS = [WEBHOOK_TOKEN, WEBHOOK_TOKEN_NEXT, API_TOKEN, SIGNING_SECRET, "slack-secret-path-XYZ", "teams-secret-sig-QRS"]
# The env a bridge under test reads its secrets from.
SECRET_ENV = {
    "BRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "BRIDGE_WEBHOOK_TOKEN_NEXT": WEBHOOK_TOKEN_NEXT,
    "BRIDGE_API_TOKEN": API_TOKEN, "OPS_SIGNING_SECRET": SIGNING_SECRET,
    "SLACK_WEBHOOK_URL": SLACK_URL, "TEAMS_WORKFLOW_URL": TEAMS_URL,
}


def webhooks_config(store: str, **overrides) -> dict:
    conf = {
        "auth_tokens_env": ["BRIDGE_WEBHOOK_TOKEN", "BRIDGE_WEBHOOK_TOKEN_NEXT"],
        "store": store,
        "quiet_period": "60s",
        "sinks": {"ops-http": {"type": "http", "url": "http://127.0.0.1:9/hook", "secret_env": "OPS_SIGNING_SECRET"}},
        "routes": [{"match": {"status": "failed"}, "sinks": ["ops-http"], "per": "execution"}],
        "outbox": {"autostart": False, "retry_schedule": ["10s", "1m"], "max_attempts": 3},
    }
    conf.update(overrides)
    return conf


@contextmanager
def bridge_apps(store: str, **store_extra):
    """Yields build(**webhooks overrides) -> a Flask app with the bridge on `store`, dispatcher off;
    every app built is closed afterwards."""
    from adapter import create_app

    apps = []

    def build(**overrides):
        app = create_app({"webhooks": webhooks_config(store, **store_extra, **overrides),
                          "api": {"tokens_env": ["BRIDGE_API_TOKEN"]}})
        app.config["TESTING"] = True
        apps.append(app)
        return app

    try:
        yield build
    finally:
        for app in apps:
            app.extensions["webhooks"].close()


def post(client, doc_or_body, token: str = WEBHOOK_TOKEN, content_type: str = "application/json"):
    body = doc_or_body if isinstance(doc_or_body, (bytes, str)) else json.dumps(doc_or_body)
    return client.post("/webhooks/harbor", data=body, headers={"Authorization": token, "Content-Type": content_type})


def api_get(client, path: str, token: str = API_TOKEN):
    return client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"})


def verify_standard_webhook(secret: str, headers: dict, body: bytes) -> bool:
    """The receiver's side of Standard Webhooks, written from the spec, not from the sink."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig.split(",", 1)[1] == expected for sig in headers["webhook-signature"].split(" "))
