"""One logging setup: JSON lines for every project logger and gunicorn's, with the request id while serving one.

The access line carries the principal (never its secret), repository, bytes and duration.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from contextvars import ContextVar

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The id of the request being served, set by the app's hooks (adapter.access): a ContextVar and not
# flask.g, so that gunicorn's master, which loads GunicornLogger from here, never imports Flask.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


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
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# The loggers every module of the project logs under (its own __name__, or swr_bridge.*).
PROJECT_LOGGERS = ("swr_bridge", "adapter", "harbor_client")


def configure(level: str = "INFO") -> None:
    """Routes the project's loggers to stderr as JSON lines (idempotent)."""
    logging.Formatter.converter = time.gmtime
    # A record's thread and process names are looked up for every line, and no line shows them.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
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


class _Ids:
    """Fresh request ids: 16 random hex digits per process, then a counter. A uuid4 per request (a
    getrandom call and UUID's checks) was the largest single cost of the access-log path; the ids need
    to be unique, not unpredictable. Re-seeded in a forked child, so gunicorn's workers never share one."""

    def __init__(self):
        self.seed()
        os.register_at_fork(after_in_child=self.seed)

    def seed(self) -> None:
        self.prefix, self.counter = os.urandom(8).hex(), itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"  # 32 hex digits, as a uuid4's hex was


_IDS = _Ids()


def request_id(given: str) -> str:
    """The caller's X-Request-Id when it is sane, else a fresh one."""
    return given if _REQUEST_ID.match(given) else _IDS.next()


_ACCESS = logging.getLogger("swr_bridge.access")


def access(fields: dict, started: float) -> None:
    """The access log line of one request (fields as _after builds them), timed from `started`."""
    fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    if _ACCESS.isEnabledFor(logging.INFO):
        # info() less its walk up the stack for the caller's file and line, which the line never shows:
        # makeRecord and handle are the Logger's public halves of it.
        _ACCESS.handle(_ACCESS.makeRecord(_ACCESS.name, logging.INFO, "", 0, "request", None, None,
                                          extra={"fields": fields}))
