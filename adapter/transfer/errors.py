"""Upstream failures as the transfer core reports them: TransferError, and a registry's error body read into one."""

from __future__ import annotations

import json
import socket


class TransferError(Exception):
    """A registry call that got no usable answer; `code` is an OCI-style code, `status` an HTTP status,
    `transient` whether trying again may help (a 5xx may pass; a host name that does not resolve does not)."""

    def __init__(self, code: str, message: str, *, status: int | None = None, transient: bool | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or 502
        self.transient = self.status >= 500 if transient is None else transient
        self.retry_after: float | None = None  # seconds, when the caller should be told when to try again


def unresolved(exc: BaseException) -> bool:
    """Whether a connection failed because the host name did not resolve: a configuration problem, not a
    passing one, so it is never retried. Looks through requests' and urllib3's wrapping."""
    seen, todo = set(), [exc]
    while todo:
        err = todo.pop()
        # ssl's errors carry `reason` as a string: only exceptions are looked into.
        if not isinstance(err, BaseException) or id(err) in seen or len(seen) > 20:
            continue
        seen.add(id(err))
        if isinstance(err, socket.gaierror) or type(err).__name__ == "NameResolutionError":
            return True
        todo += [a for a in getattr(err, "args", ()) if isinstance(a, BaseException)]
        todo += [getattr(err, "reason", None), err.__cause__, err.__context__]
    return False


def upstream_error(status: int, body: bytes, content_type: str | None = None) -> TransferError:
    """Keeps an upstream OCI error's code and message; wraps anything else (SWR shapes included)."""
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        data = None
    code, message = _first_code(data)
    if code:
        return TransferError(code, message or code, status=status if status < 500 else 502)
    text = (body or b"")[:300].decode("utf-8", "replace").strip()
    fallback = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 429: "TOOMANYREQUESTS"}
    if status >= 500:
        return TransferError("UPSTREAM_ERROR", f"SWR answered {status}: {text or 'no body'}", status=502)
    return TransferError(fallback.get(status, "UNSUPPORTED"), text or f"SWR answered {status}", status=status)


def _first_code(data) -> tuple[str | None, str | None]:
    errors = data.get("errors") if isinstance(data, dict) else data
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = first.get("code") or first.get("errorCode")
        message = first.get("message") or first.get("errorMessage")
        return (str(code) if code else None), (str(message) if message else None)
    if isinstance(data, dict) and (data.get("error_code") or data.get("errorCode")):
        return str(data.get("error_code") or data.get("errorCode")), data.get("error_msg") or data.get("errorMsg")
    return None, None
