"""SWR-shaped error answers: the service array, the registry `errors` object and the API gateway body."""

from __future__ import annotations

import logging
import uuid

from flask import jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Codes documented in SWR's error_codes appendix.
AUTHENTICATE = "SVCSTG.SWR.4010000"
NO_CREDENTIALS = "SVCSTG.S2I.4019000"
ORG_EXISTS = "SVCSTG.SWR.4090060"
ORG_NOT_FOUND = "SVCSTG.SWR.4040058"
ORG_HAS_IMAGES = "SVCSTG.SWR.4060074"
ORG_QUOTA = "SVCSTG.SWR.4000097"
BAD_ORG_NAME = "SVCSTG.SWR.4001028"
BAD_IMAGE_NAME = "SVCSTG.SWR.4001029"
# SWR documents no specific code for these; the sandbox picks generic ones of the same family.
BAD_REQUEST = "SVCSTG.SWR.4000001"
REPO_NOT_FOUND = "SVCSTG.SWR.4040000"
UPSTREAM = "SVCSTG.SWR.5020000"
INTERNAL = "SVCSTG.SWR.5000000"
# API gateway codes (the gateway checks AK/SK signatures before SWR sees the request).
APIGW_AUTH = "APIGW.0301"
APIGW_NO_API = "APIGW.0101"

SWR, REGISTRY, APIGW = "swr", "registry", "apigw"
DISTRIBUTION = "distribution"  # {"errors": [{"code", "message", "detail"}]}, as docker-registry words them


class SwrError(Exception):
    """An error answered in one of SWR's shapes; `shape` picks which."""

    def __init__(self, status: int, code: str, message: str, detail: str = "", shape: str = SWR):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.shape = status, code, message, detail, shape


def unauthorized(detail: str = "") -> SwrError:
    """The token service's and dockyard's answer to bad Basic credentials."""
    return SwrError(401, AUTHENTICATE, "Authenticate Error", detail, shape=REGISTRY)


def blacklisted(seconds: float) -> SwrError:
    """A blacklisted tenant's answer, on the token service as on the registry (see adapter/sandbox/blacklist.py)."""
    from adapter.transfer.blacklist import BLACKLIST_MESSAGE

    return SwrError(403, "DENIED", BLACKLIST_MESSAGE, f"blacklisted for {seconds:.0f} s more", shape=DISTRIBUTION)


def no_credentials() -> SwrError:
    """SWR's answer to a call that carries neither a user token nor an AK/SK signature (swr.md §2.1)."""
    return SwrError(401, NO_CREDENTIALS, "Authentication error: No user token or user AK/SK information found")


def apigw_unauthorized(reason: str) -> SwrError:
    return SwrError(401, APIGW_AUTH, f"Incorrect IAM authentication information: {reason}", shape=APIGW)


def bad_request(message: str, detail: str = "") -> SwrError:
    return SwrError(400, BAD_REQUEST, message, detail)


def body_of(err: SwrError):
    if err.shape == APIGW:
        return {"error_code": err.code, "error_msg": err.message, "request_id": uuid.uuid4().hex}
    if err.shape == DISTRIBUTION:
        return {"errors": [{"code": err.code, "message": err.message, "detail": err.detail}]}
    entry = {"errorCode": err.code, "errorMessage": err.message}
    if err.detail:
        entry["detail"] = err.detail
    if err.shape == REGISTRY:
        return {"errors": [entry]}
    entry.setdefault("detail", "")
    return [entry]


def render(err: SwrError):
    response = jsonify(body_of(err))
    response.status_code = err.status
    return response


def _http_error(exc: HTTPException):
    if exc.code == 404:
        return render(SwrError(404, APIGW_NO_API, "The API does not exist or has not been published in the "
                                                  "environment", shape=APIGW))
    code = {405: "SVCSTG.SWR.4050000", 413: "SVCSTG.SWR.4131001"}.get(exc.code, BAD_REQUEST)
    return render(SwrError(exc.code or 400, code, exc.name, exc.description or ""))


def _unexpected(exc: Exception):
    # Logged with its trace for the operator; the client gets an SWR-shaped 500, never a trace.
    log.exception("sandbox internal error")
    return render(SwrError(500, INTERNAL, "Internal error"))


def init_app(app) -> None:
    app.register_error_handler(SwrError, render)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
