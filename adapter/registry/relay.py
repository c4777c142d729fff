"""The /v2 surface's side of streaming: Flask request bodies in, upstream responses out untouched."""

from __future__ import annotations

from collections.abc import Callable

import requests
from flask import Response

from adapter.transfer.streams import CHUNK, BodyStream, SizedBodyStream, copy_headers


def body_stream(request, algorithm=None, throttle=None) -> BodyStream:
    """The request body as an upstream request body; hashed only when `algorithm` names a digest to check."""
    length = request.content_length
    stream = request.stream
    if length is not None:
        return SizedBodyStream(stream, length, algorithm=algorithm, throttle=throttle)
    return BodyStream(stream, algorithm=algorithm, throttle=throttle)


def has_body(request) -> bool:
    if (request.content_length or 0) > 0:
        return True
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def stream_response(upstream: requests.Response, status: int | None = None, headers=None,
                    throttle: Callable[[int], None] | None = None) -> Response:
    """A Flask response that streams the upstream body untouched and closes the upstream when done."""
    def generate():
        for chunk in upstream.raw.stream(CHUNK, decode_content=False):
            if throttle:
                throttle(len(chunk))
            yield chunk

    hdrs = copy_headers(upstream) if headers is None else headers
    # Not direct_passthrough: werkzeug then hands the generator to the server bare, and no close
    # callback (this upstream.close, the access log line, the request metrics) would ever run.
    resp = Response(generate(), status=status or upstream.status_code, headers=hdrs)
    resp.call_on_close(upstream.close)
    return resp
