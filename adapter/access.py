"""The app's request log: a request id for every request (X-Request-Id), one access line per response."""

from __future__ import annotations

import re
import time

from flask import g, request

from adapter import logs

_UPLOAD_TOKEN = re.compile(r"(/blobs/uploads/)[^/?]+")


def _before() -> None:
    logs.REQUEST_ID.set(logs.request_id(request.headers.get("X-Request-Id", "")))
    g.started = time.monotonic()


def _forget(_exc=None) -> None:
    logs.REQUEST_ID.set(None)  # the thread serves other requests next, and logs between them


def _after(resp):
    # The proxies resolved once: every `g.x` and `request.x` through them is a context lookup of its own.
    req, ctx = request._get_current_object(), g._get_current_object()
    ids = ctx.__dict__
    request_id = logs.REQUEST_ID.get()
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
    resp.call_on_close(lambda: logs.access(fields, started))
    return resp


def init_app(app) -> None:
    logs.configure(app.config["BRIDGE"].log_level)
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_forget)
