"""App-wide error answers: OCI bodies under /v2, `{"error": {code, message}}` elsewhere, never a traceback."""

from __future__ import annotations

import logging

from flask import Response, json, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, InternalServerError

from adapter.registry.errors import RegistryError
from adapter.transfer.errors import TransferError

log = logging.getLogger("swr_bridge")

OCI_CODES = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 405: "UNSUPPORTED",
             413: "SIZE_INVALID", 429: "TOOMANYREQUESTS"}


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply for the parser refused like any other bad JSON
    (a 400) instead of a RecursionError (a 500 and a traceback)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def error_body(code: str, message: str, **extra) -> dict:
    """The app's error shape outside the registry API: `{"error": {code, message, ...}}`."""
    return {"error": {"code": code, "message": message, **extra}}


def _is_registry_path() -> bool:
    return request.path.startswith(("/v2", "/auth/token"))


def _answer(status: int, code: str, message: str) -> Response:
    if _is_registry_path():
        return RegistryError(OCI_CODES.get(status, code), message, status=status).response()
    return Response(json.dumps(error_body(code, message)), status=status, mimetype="application/json")


def handle_http(exc: HTTPException) -> Response:
    code = (exc.name or "error").upper().replace(" ", "_")
    resp = _answer(exc.code or 500, code, exc.description or exc.name)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and not isinstance(exc, InternalServerError):
        return handle_http(exc)
    if isinstance(exc, TransferError):
        return RegistryError.of(exc).response()
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _answer(500, "INTERNAL_ERROR", "internal error; see the server log")


def init_app(app) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(TransferError, lambda exc: RegistryError.of(exc).response())
    app.register_error_handler(Exception, handle_unexpected)
