"""OCI distribution errors: one exception type, one JSON body shape, one handler for the /v2 surface."""

from __future__ import annotations

from flask import Response, json

from adapter.transfer import errors as transfer_errors
from adapter.transfer.errors import TransferError
from adapter.transfer.limits import ceil_seconds

API_VERSION_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")

STATUS = {
    "BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404, "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 404, "MANIFEST_INVALID": 400, "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400, "NAME_UNKNOWN": 404, "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403,
    "UNSUPPORTED": 405, "TOOMANYREQUESTS": 429, "RANGE_INVALID": 416,
    "UPSTREAM_UNREACHABLE": 502, "UPSTREAM_TIMEOUT": 504, "UPSTREAM_ERROR": 502,
}


class RegistryError(TransferError):
    """An OCI error answer: status, code, message and optional detail and headers."""

    def __init__(self, code: str, message: str, *, status: int | None = None, detail=None, headers=None):
        super().__init__(code, message, status=status or STATUS.get(code, 400))
        self.detail = detail
        self.headers = dict(headers or {})

    @classmethod
    def of(cls, exc: TransferError) -> RegistryError:
        """The answer to give for a failure of the transfer core (a RegistryError already is one)."""
        if isinstance(exc, cls):
            return exc
        err = cls(exc.code, exc.message, status=exc.status)
        err.retry_after = exc.retry_after
        return err

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}

    def response(self) -> Response:
        resp = Response(json.dumps(self.body()), status=self.status, mimetype="application/json")
        for key, value in self.headers.items():
            resp.headers[key] = value
        if self.retry_after and "Retry-After" not in self.headers:
            resp.headers["Retry-After"] = str(ceil_seconds(self.retry_after))
        resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return resp


def upstream_error(status: int, body: bytes, content_type: str | None) -> RegistryError:
    """An upstream's error answer as the /v2 answer to give (the body read by the transfer core)."""
    return RegistryError.of(transfer_errors.upstream_error(status, body, content_type))
