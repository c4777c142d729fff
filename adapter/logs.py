"""One logging setup: JSON lines for every project logger and gunicorn's, with the request id while serving one.

The access line carries the principal (never its secret), repository, bytes and duration.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import g, has_request_context, request

_UPLOAD_TOKEN = re.compile(r"(/blobs/uploads/)[^/?]+")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    # formatTime's strftime for every line is most of a line's cost; within one second it is the same text.
    _second: tuple[int, str] = (-1, "")

    def _ts(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S"))
        return f"{cached[1]}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self._ts(record), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        if has_request_context() and g.get("request_id"):
            entry["request_id"] = g.request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# The loggers every module of the project logs under (its own __name__, or swr_bridge.*).
PROJECT_LOGGERS = ("swr_bridge", "adapter", "harbor_client")


def configure(level: str = "INFO") -> None:
    """Routes the project's loggers to stderr as JSON lines (idempotent)."""
    logging.Formatter.converter = time.gmtime
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            logger.propagate = False
        logger.setLevel(level)


try:  # gunicorn is absent where only the CLI runs
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object


class GunicornLogger(_GunicornLogger):
    """gunicorn's own messages (worker boots, timeouts, errors) as the same JSON lines."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


def request_id(given: str) -> str:
    """The caller's X-Request-Id when it is sane, else a fresh one."""
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def access(fields: dict, started: float) -> None:
    """The access log line of one request (fields as _after builds them), timed from `started`."""
    fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    _ACCESS.info("request", extra={"fields": fields})


def _before() -> None:
    g.request_id = request_id(request.headers.get("X-Request-Id", ""))
    g.started = time.monotonic()


_ACCESS = logging.getLogger("swr_bridge.access")


def _after(resp):
    # The proxies resolved once: every `g.x` and `request.x` through them is a context lookup of its own.
    req, ctx = request._get_current_object(), g._get_current_object()
    ids = ctx.__dict__
    request_id = ids.get("request_id")
    resp.headers["X-Request-Id"] = request_id or ""
    path = req.path
    fields = {
        "request_id": request_id, "method": req.method,
        # Upload tokens are sealed state, but they still do not belong in logs.
        "path": _UPLOAD_TOKEN.sub(r"\1<token>", path) if "/blobs/uploads/" in path else path,
        "status": resp.status_code, "bytes_in": req.content_length or 0,
        "bytes_out": resp.content_length or 0, "remote": req.remote_addr,
    }
    grant = ids.get("registry_grant")
    if grant is not None:
        fields["principal"] = grant.principal.access_id
    if ids.get("repository"):
        fields["repository"] = ids["repository"]
    started = ids["started"] if "started" in ids else time.monotonic()
    resp.call_on_close(lambda: access(fields, started))
    return resp


def init_app(app) -> None:
    configure(app.config["BRIDGE"].log_level)
    app.before_request(_before)
    app.after_request(_after)
