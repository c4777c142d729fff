"""Harbor's webhooks come in at POST <webhooks.path>: checked, parsed, committed, then answered."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from adapter import metrics
from adapter.webhooks import api
from adapter.webhooks.api import error
from adapter.webhooks.bridge import Bridge, token_matches
from adapter.webhooks.schemas import PayloadError, load_event

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024


def _read_body() -> bytes | None:
    """The body, or None when it is over 1 MiB; a chunked body is read only up to the limit."""
    if (request.content_length or 0) > MAX_BODY:
        return None
    body = request.stream.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def intake():
    bridge: Bridge = current_app.extensions["webhooks"]
    if not token_matches(request.headers.get("Authorization", ""), bridge.tokens):
        metrics.WEBHOOK_EVENTS.labels(outcome="unauthorized", status="").inc()
        return error(401, "UNAUTHORIZED", "the Authorization header does not match a configured token")
    body = _read_body()
    if body is None:
        metrics.WEBHOOK_EVENTS.labels(outcome="too_large", status="").inc()
        return error(413, "PAYLOAD_TOO_LARGE", f"the body is limited to {MAX_BODY} bytes")
    try:
        event = load_event(body, request.content_type or "")
    except PayloadError as err:
        metrics.WEBHOOK_EVENTS.labels(outcome="invalid", status="").inc()
        return error(400, "INVALID_PAYLOAD", "the body is not a Harbor webhook payload", fields=err.messages)
    return _record(bridge, event)


def _record(bridge: Bridge, event):
    try:
        event_id = bridge.record(event, time.time())
    except SQLAlchemyError as exc:
        log.error("webhook store unavailable (%s); Harbor will retry", type(exc).__name__)
        metrics.WEBHOOK_EVENTS.labels(outcome="store_unavailable", status=event.status or "").inc()
        response, status = error(503, "STORE_UNAVAILABLE", "the event could not be stored; retry later")
        response.headers["Retry-After"] = "5"
        return response, status
    metrics.WEBHOOK_EVENTS.labels(outcome="accepted" if event_id else "duplicate", status=event.status or "").inc()
    if event_id is None:
        return jsonify(status="duplicate", key=event.key)
    log.debug("event %s stored (%s %s)", event_id, event.event_type, event.status or "")
    return jsonify(status="accepted", id=event_id, key=event.key)


def blueprint(path: str) -> Blueprint:
    bp = Blueprint("webhooks", __name__)
    bp.add_url_rule(path, "intake", intake, methods=["POST"])
    return bp


def init_app(app: Flask) -> None:
    """Wires the intake and the API when `webhooks:` is configured, and starts this process's dispatcher."""
    from adapter.config import ConfigError

    config = app.config["BRIDGE"]
    conf = config.get("webhooks")
    if not conf:
        return
    try:
        bridge = Bridge(conf, config.get("api"))
    except ValueError as exc:
        raise ConfigError("<config>", "", str(exc)) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        raise ConfigError("<config>", "webhooks.store", f"cannot open the store: {reason}") from None
    app.extensions["webhooks"] = bridge
    app.register_blueprint(blueprint(conf["path"]))
    app.register_blueprint(api.bp)
    if conf["outbox"]["autostart"] and not app.config.get("TESTING"):
        bridge.dispatcher.start()


def dispatch_once(app: Flask, now: float | None = None) -> dict:
    """One synchronous dispatcher pass (finalise due executions, deliver one batch), for tests."""
    return app.extensions["webhooks"].dispatcher.run_once(now)
