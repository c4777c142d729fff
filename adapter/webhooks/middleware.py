"""Harbor's webhooks come in at POST <webhooks.path>: checked, parsed, committed, then answered.

This one route is served in front of Flask, as WSGI middleware: a Flask request context, URL matching and
the app's hooks measured ~0.3 ms of CPU per request here, a third of what an event costs in all, and
Harbor sends an event per task. The answers are the ones a Flask route would give (the same JSON error
bodies, X-Request-Id, access log line and metrics); every other path goes on to Flask.
"""

from __future__ import annotations

import json
import logging
import time
from http import HTTPStatus

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import MethodNotAllowed

from adapter import logs, metrics
from adapter.errors import error_body
from adapter.webhooks import api
from adapter.webhooks.bridge import Bridge, token_matches
from adapter.webhooks.schemas import PayloadError, load_event

log = logging.getLogger(__name__)
# Harbor lists every tag of a task's repository in `references` (2.10 on, no limit): 8 MiB holds about
# 500,000 short tags. Only a caller with a valid token gets its body read.
MAX_BODY = 8 * 1024 * 1024


class Answer(Exception):
    """Ends a request early with a JSON answer."""

    def __init__(self, status: int, body: dict, headers=()):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, list(headers)


def _error(status: int, code: str, message: str, headers=(), **extra) -> Answer:
    return Answer(status, error_body(code, message, **extra), headers)


def _reject(outcome: str, status: int, code: str, message: str, **extra) -> Answer:
    metrics.WEBHOOK_EVENTS.labels(outcome=outcome, status="").inc()
    return _error(status, code, message, **extra)


def _declared_length(environ) -> int:
    """CONTENT_LENGTH, or -1 when there is none (chunked) or it is not a number."""
    try:
        return int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return -1


def _too_large() -> Answer:
    return _reject("too_large", 413, "PAYLOAD_TOO_LARGE", f"the body is limited to {MAX_BODY} bytes")


def _read_body(environ) -> bytes:
    """The body, at most MAX_BODY bytes (a chunked one is read only up to the limit)."""
    length = _declared_length(environ)
    if length > MAX_BODY:
        raise _too_large()
    stream = environ["wsgi.input"]
    if length >= 0:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream (werkzeug's rule too)
        body = stream.read(MAX_BODY + 1)
    else:
        body = b""
    if len(body) > MAX_BODY:
        raise _too_large()
    return body


class IntakeMiddleware:
    """The WSGI intake: `POST path` is answered here, everything else by `app` (Flask's own wsgi_app)."""

    def __init__(self, app, bridge: Bridge, path: str):
        self.app, self.bridge, self.path = app, bridge, path

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        started = time.monotonic()
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        try:
            answer = self.handle(environ)
        except Answer as early:
            answer = early
        except Exception:  # noqa: BLE001 - whatever it was, the client gets JSON, the log the traceback
            log.exception("unhandled error on %s %s", environ.get("REQUEST_METHOD"), self.path)
            answer = _error(500, "INTERNAL_ERROR", "internal error; see the server log")
        body = (json.dumps(answer.body, separators=(",", ":")) + "\n").encode()
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            *answer.headers, ("X-Request-Id", request_id)])
        method = environ.get("REQUEST_METHOD", "")
        metrics.observe(self.path, method, answer.status, started)
        logs.access({"request_id": request_id, "method": method, "path": self.path, "status": answer.status,
                     "bytes_in": max(_declared_length(environ), 0),
                     "bytes_out": len(body), "remote": environ.get("REMOTE_ADDR")}, started)
        return [body]

    def handle(self, environ) -> Answer:
        if environ.get("REQUEST_METHOD") != "POST":
            raise _error(405, "METHOD_NOT_ALLOWED", MethodNotAllowed.description, headers=[("Allow", "POST")])
        if not token_matches(environ.get("HTTP_AUTHORIZATION", ""), self.bridge.tokens):
            raise _reject("unauthorized", 401, "UNAUTHORIZED",
                          "the Authorization header does not match a configured token")
        body = _read_body(environ)
        try:
            event = load_event(body, environ.get("CONTENT_TYPE", ""))
        except PayloadError as err:
            raise _reject("invalid", 400, "INVALID_PAYLOAD", "the body is not a Harbor webhook payload",
                          fields=err.messages) from None
        return self._record(event)

    def _record(self, event) -> Answer:
        try:
            event_id = self.bridge.record(event, time.time())
        except SQLAlchemyError as exc:
            log.error("webhook store unavailable (%s); Harbor will retry", type(exc).__name__)
            metrics.WEBHOOK_EVENTS.labels(outcome="store_unavailable", status=event.status or "").inc()
            return _error(503, "STORE_UNAVAILABLE", "the event could not be stored; retry later",
                          headers=[("Retry-After", "5")])
        outcome = "accepted" if event_id else "duplicate"
        metrics.WEBHOOK_EVENTS.labels(outcome=outcome, status=event.status or "").inc()
        if event_id is None:
            return Answer(200, {"status": "duplicate", "key": event.key})
        log.debug("event %s stored (%s %s)", event_id, event.event_type, event.status or "")
        return Answer(200, {"status": "accepted", "id": event_id, "key": event.key})


def init_app(app: Flask) -> None:
    """Wires the intake and the API when `webhooks:` is configured, and starts this process's dispatcher."""
    from adapter.config import ConfigError

    config = app.config["BRIDGE"]
    conf = config.webhooks
    if not conf:
        return
    try:
        bridge = Bridge(conf, config.api)
    except ValueError as exc:
        raise ConfigError("<config>", "", str(exc)) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        raise ConfigError("<config>", "webhooks.store", f"cannot open the store: {reason}") from None
    app.extensions["webhooks"] = bridge
    app.wsgi_app = IntakeMiddleware(app.wsgi_app, bridge, conf["path"])
    app.register_blueprint(api.bp)
    if conf["outbox"]["autostart"] and not app.config.get("TESTING"):
        bridge.dispatcher.start()


def dispatch_once(app: Flask, now: float | None = None) -> dict:
    """One synchronous dispatcher pass (finalise due executions, deliver one batch), for tests."""
    return app.extensions["webhooks"].dispatcher.run_once(now)
