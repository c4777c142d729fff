"""JSON-lines logging with a request id, the principal (never its secret), repository, bytes and duration."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import g, request

_UPLOAD_TOKEN = re.compile(r"(/blobs/uploads/)[^/?]+")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    """Routes the project's loggers to stderr as JSON lines (idempotent)."""
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger("swr_bridge")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


def _before() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    g.started = time.monotonic()


def _after(resp):
    resp.headers["X-Request-Id"] = g.get("request_id", "")
    fields = {
        "request_id": g.get("request_id"), "method": request.method,
        # Upload tokens are sealed state, but they still do not belong in logs.
        "path": _UPLOAD_TOKEN.sub(r"\1<token>", request.path),
        "status": resp.status_code, "bytes_in": request.content_length or 0,
        "bytes_out": resp.content_length or 0, "remote": request.remote_addr,
    }
    grant = g.get("registry_grant")
    if grant is not None:
        fields["principal"] = grant.principal.access_id
    if g.get("repository"):
        fields["repository"] = g.repository
    started = g.get("started", time.monotonic())

    def emit():
        fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        logging.getLogger("swr_bridge.access").info("request", extra={"fields": fields})
    resp.call_on_close(emit)
    return resp


def init_app(app) -> None:
    configure(app.config["BRIDGE"].get("log_level", "INFO"))
    app.before_request(_before)
    app.after_request(_after)
