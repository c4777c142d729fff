"""The harbor_client exception tree, built from Harbor's `{"errors":[{code,message}]}` body."""

from __future__ import annotations

import requests


class HarborError(Exception):
    """Base of everything harbor_client raises.

    HarborError
     ├── HarborUnreachable            no HTTP answer: connection refused, DNS, TLS, timeout
     ├── UnsupportedByHarborVersion   a field set that the connected Harbor does not know yet
     └── HarborHTTPError              Harbor answered with a non-2xx status
          ├── BadRequest              400
          ├── Unauthorized            401
          ├── Forbidden               403 (also Harbor's CSRF refusal)
          ├── NotFound                404
          ├── Conflict                409 (a name that already exists)
          ├── PreconditionFailed      412 (still referenced, disabled policy, running executions)
          └── ServerError             5xx
    """


class HarborUnreachable(HarborError):
    """The request never got an HTTP answer."""

    def __init__(self, method: str, url: str, reason: str, request_id: str | None = None):
        self.method, self.url, self.reason, self.request_id = method, url, reason, request_id
        super().__init__(f"{method} {url}: Harbor unreachable: {reason} (request id {request_id})")


class UnsupportedByHarborVersion(HarborError):
    """A field was set that the connected Harbor version would silently ignore."""

    def __init__(self, field: str, required: str, actual: str):
        self.field, self.required, self.actual = field, required, actual
        super().__init__(f"{field} needs Harbor {required} or newer; this Harbor is {actual}")


class HarborHTTPError(HarborError):
    """Harbor answered with an error status; carries its codes, messages and the request id."""

    def __init__(self, status: int, codes: list[str], messages: list[str], request_id: str | None,
                 method: str = "", url: str = ""):
        self.status, self.codes, self.messages = status, codes, messages
        self.request_id, self.method, self.url = request_id, method, url
        detail = "; ".join(f"{c}: {m}" for c, m in zip(codes, messages, strict=True)) or "no error body"
        super().__init__(f"{method} {url} -> {status} {detail} (request id {request_id})")

    @property
    def status_code(self) -> int:
        return self.status


class BadRequest(HarborHTTPError):
    """400: the body or query was refused."""


class Unauthorized(HarborHTTPError):
    """401: missing or wrong credentials (Harbor then treats the call as anonymous)."""


class Forbidden(HarborHTTPError):
    """403: no permission, or a CSRF refusal because a cookie was sent."""


class NotFound(HarborHTTPError):
    """404: the resource does not exist."""


class Conflict(HarborHTTPError):
    """409: a resource with that name already exists."""


class PreconditionFailed(HarborHTTPError):
    """412: the resource is in use or in a state that forbids the call."""


class ServerError(HarborHTTPError):
    """5xx: Harbor rewrites every internal error to UNKNOWN / "internal server error"."""


_BY_STATUS: dict[int, type[HarborHTTPError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 412: PreconditionFailed,
}


def _codes_and_messages(response: requests.Response) -> tuple[list[str], list[str]]:
    try:
        errors = response.json().get("errors") or []
        pairs = [(str(e.get("code", "")), str(e.get("message", ""))) for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        # A proxy in front of Harbor may answer with HTML or plain text; keep its start as the message.
        text = response.text.strip()[:200]
        pairs = [(response.reason or "", text)] if text else []
    return [c for c, _ in pairs], [m for _, m in pairs]


def error_from_response(response: requests.Response, request_id: str | None) -> HarborHTTPError:
    """Map a non-2xx response onto the exception tree."""
    status = response.status_code
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, HarborHTTPError)
    codes, messages = _codes_and_messages(response)
    # Harbor echoes the id we sent; prefer its copy in case a proxy generated one.
    rid = response.headers.get("X-Request-Id") or request_id
    return cls(status, codes, messages, rid, response.request.method or "", response.url)
