"""OCI distribution errors: one exception type, one JSON body shape, one handler for the /v2 surface."""

from __future__ import annotations

from flask import Response, json

API_VERSION_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")

STATUS = {
    "BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404, "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 404, "MANIFEST_INVALID": 400, "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400, "NAME_UNKNOWN": 404, "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403,
    "UNSUPPORTED": 405, "TOOMANYREQUESTS": 429, "RANGE_INVALID": 416,
    "UPSTREAM_UNREACHABLE": 502, "UPSTREAM_TIMEOUT": 504, "UPSTREAM_ERROR": 502,
}


class RegistryError(Exception):
    """An OCI error answer: status, code, message and optional detail and headers."""

    def __init__(self, code: str, message: str, *, status: int | None = None, detail=None, headers=None):
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail
        self.status = status or STATUS.get(code, 400)
        self.headers = dict(headers or {})

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}

    def response(self) -> Response:
        resp = Response(json.dumps(self.body()), status=self.status, mimetype="application/json")
        for key, value in self.headers.items():
            resp.headers[key] = value
        resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return resp


def upstream_error(status: int, body: bytes, content_type: str | None) -> RegistryError:
    """Keeps an upstream OCI error's code and message; wraps anything else (SWR shapes included)."""
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        data = None
    code, message = _first_code(data)
    if code:
        return RegistryError(code, message or code, status=status if status < 500 else 502)
    text = (body or b"")[:300].decode("utf-8", "replace").strip()
    fallback = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 429: "TOOMANYREQUESTS"}
    if status >= 500:
        return RegistryError("UPSTREAM_ERROR", f"SWR answered {status}: {text or 'no body'}", status=502)
    return RegistryError(fallback.get(status, "UNSUPPORTED"), text or f"SWR answered {status}", status=status)


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
