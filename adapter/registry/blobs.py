"""Blob reads and stateless uploads: the upload state travels sealed in the Location token."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

from flask import Response, request

from adapter import metrics
from adapter.registry.errors import RegistryError, upstream_error
from adapter.registry.relay import body_stream, has_body, stream_response
from adapter.registry.service import grant, service
from adapter.seats import SlowClient, parked
from adapter.transfer.limits import MAX_RETRY_AFTER, ceil_seconds, layer_too_large
from adapter.transfer.oci import is_digest
from adapter.transfer.streams import ClientGone, copy_headers, error_body
from adapter.upload_seats import NoSeat
from harbor_client.units import retry_after

RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)$")
SEAT_RETRY_AFTER = 5  # seconds: after a whole wait for an upload seat, the client backs off this long
# The longest wait for one: the worker's body-rate window (60 s) runs on while the request waits.
MAX_SEAT_WAIT = 30.0


def scopes(dest: str, action: str) -> list[str]:
    return [f"repository:{dest}:{ {'pull': 'pull', 'push': 'pull,push', 'delete': '*'}[action] }"]


def _fail(resp) -> RegistryError:
    err = upstream_error(resp.status_code, error_body(resp), resp.headers.get("Content-Type"))
    if resp.status_code in (429, 503):
        # SWR's rate limit: Harbor's client backs off on a 429/503 and its Retry-After, not on a 502.
        wait = min(retry_after(resp.headers.get("Retry-After")) or 1, MAX_RETRY_AFTER)
        return RegistryError("TOOMANYREQUESTS", f"SWR is limiting requests: {err.message}",
                             status=resp.status_code, headers={"Retry-After": str(ceil_seconds(wait))})
    if err.status == 401:
        # The client did authenticate with us; a 401 would make it retry our auth forever.
        return RegistryError("DENIED", f"SWR denied access: {err.message}", status=403)
    return err


def _check_digest(digest: str | None) -> str:
    if not is_digest(digest):
        raise RegistryError("DIGEST_INVALID", f"digest {digest!r} is not sha256:<64 hex> or sha512:<128 hex>")
    return digest


def _upload_location(name: str, token: str) -> str:
    base = (service().config.public_url or "").rstrip("/")
    return f"{base}/v2/{name}/blobs/uploads/{token}"


def _accepted(name: str, dest: str, location: str, offset: int, upstream, status: int = 202) -> Response:
    svc = service()
    state = {"u": location, "p": grant().principal.access_id, "n": name, "d": dest, "o": offset}
    token = svc.box.seal("upload", state, svc.config.upload_ttl)
    headers = {"Location": _upload_location(name, token), "Range": f"0-{max(offset - 1, 0)}",
               "Content-Length": "0"}
    if "Docker-Upload-UUID" in upstream.headers:
        headers["Docker-Upload-UUID"] = upstream.headers["Docker-Upload-UUID"]
    return Response(None, status=status, headers=headers)


def _created(name: str, digest: str) -> Response:
    return Response(None, status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                               "Docker-Content-Digest": digest, "Content-Length": "0"})


def start_upload(name: str) -> Response:
    svc, principal = service(), grant().principal
    dest = svc.map_name(name)
    svc.orgs.ensure(principal, dest.split("/")[0])
    mount, source = request.args.get("mount"), request.args.get("from")
    if mount and source:
        mounted = _mount(name, dest, _check_digest(mount), svc.map_name(source))
        if mounted is not None:
            return mounted
    digest = request.args.get("digest")
    if digest is not None:
        _check_digest(digest)
        _check_size(0)
    resp = svc.upstream.request(principal, "POST", f"/v2/{dest}/blobs/uploads/", scopes(dest, "push"),
                                stream=False)
    if resp.status_code != 202 or "Location" not in resp.headers:
        raise _fail(resp)
    if digest is not None:
        return _finish(name, {"u": resp.headers["Location"], "d": dest, "o": 0}, digest)
    return _accepted(name, dest, resp.headers["Location"], 0, resp)


def _mount(name: str, dest: str, digest: str, source: str) -> Response | None:
    svc, principal = service(), grant().principal
    wanted = scopes(dest, "push") + scopes(source, "pull")
    try:
        resp = svc.upstream.request(principal, "POST", f"/v2/{dest}/blobs/uploads/", wanted,
                                    params={"mount": digest, "from": source}, stream=False)
    except RegistryError as exc:
        if exc.status != 401:
            raise
        return None  # no token for both: the source's organization does not exist at SWR, say; upload instead
    if resp.status_code == 201:
        return _created(name, digest)
    if resp.status_code == 202 and "Location" in resp.headers:
        return _accepted(name, dest, resp.headers["Location"], 0, resp)
    resp.close()
    return None  # not mounted: fall back to a plain upload


def _open(name: str, token: str) -> dict:
    state = service().box.open("upload", token)
    if not state or state.get("n") != name or state.get("p") != grant().principal.access_id:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", "upload unknown, expired or not yours")
    return state


def upload(name: str, token: str) -> Response:
    state = _open(name, token)
    if request.method == "PATCH":
        return _patch(name, state)
    if request.method == "PUT":
        return _finish(name, state, request.args.get("digest"))
    if request.method == "GET":
        return _status(name, state)
    return _cancel(state)


def _upstream_call(method: str, state: dict, action: str = "push", **kw):
    return service().upstream.request(grant().principal, method, state["u"], scopes(state["d"], action), **kw)


def _check_size(offset: int) -> None:
    """Refuses, before a byte goes upstream, a blob that its declared length puts over SWR's layer limit."""
    end = offset + (request.content_length or 0)
    match = RANGE_RE.match((request.headers.get("Content-Range") or "").strip())
    if match:
        end = max(end, int(match.group(2)) + 1)
    refused = layer_too_large(end, service().config.swr.max_layer_size)
    if refused:
        raise RegistryError("SIZE_INVALID", refused, status=413)


@contextmanager
def _upload_seat():
    """One of the tenant's SWR upload seats (swr.max_concurrent_layers: SWR takes at most 20 layers of a
    tenant at once) while a layer's bytes go to SWR; the body is read only once a seat is held."""
    svc = service()
    seats = svc.upload_seats
    if seats is None:
        yield
        return
    key = grant().principal.ak  # the tenant's key, whichever project prefix its access id has
    offset = seats.try_take(key)
    if offset is None:
        offset = _wait_for_seat(seats, key, min(svc.config.swr.timeout, MAX_SEAT_WAIT))
    try:
        yield
    finally:
        seats.give(offset)


def _wait_for_seat(seats, key: str, timeout: float) -> int:
    """Waits up to the upstream timeout (at most MAX_SEAT_WAIT), with the worker seat given back meanwhile; then 503 +
    Retry-After, on which Harbor's client backs off and tries again."""
    started, offset = time.monotonic(), None
    metrics.UPLOADS_WAITING.inc()
    try:
        with parked() as abandoned:
            offset = seats.wait(key, timeout, abandoned)
    except NoSeat:
        metrics.upload_seat_wait("timeout", time.monotonic() - started)
        raise RegistryError("TOOMANYREQUESTS", f"SWR takes at most {seats.seats} layers of a tenant at once, "
                            f"and all stayed busy for {timeout:g} s", status=503,
                            headers={"Retry-After": str(SEAT_RETRY_AFTER)}) from None
    except SlowClient as exc:  # the request was cut while it waited: too many others were parked
        seats.give(offset)
        raise ClientGone(str(exc)) from None
    finally:
        metrics.UPLOADS_WAITING.dec()
    metrics.upload_seat_wait("seated", time.monotonic() - started)
    return offset


def _patch(name: str, state: dict) -> Response:
    headers = {"Content-Type": "application/octet-stream"}
    content_range = request.headers.get("Content-Range")
    if content_range:
        headers["Content-Range"] = _continuing(content_range, state["o"])
    _check_size(state["o"])
    with _upload_seat():
        body = body_stream(request, throttle=service().meter(state["d"]))
        resp = _upstream_call("PATCH", state, data=body, headers=headers, stream=False, replayable=False)
    if resp.status_code != 202:
        raise _fail(resp)
    offset = _offset(resp, state["o"] + body.count)
    return _accepted(name, state["d"], resp.headers.get("Location", state["u"]), offset, resp)


def _continuing(content_range: str, offset: int) -> str:
    """The chunk's range, when it starts where the upload ends and matches the body's length."""
    match = RANGE_RE.match(content_range.strip())
    if not match or int(match.group(1)) > int(match.group(2)):
        raise RegistryError("RANGE_INVALID", f"Content-Range {content_range!r} is not start-end", status=416)
    start, end = int(match.group(1)), int(match.group(2))
    if start != offset:
        raise RegistryError("RANGE_INVALID", f"Content-Range starts at {start}, the upload holds {offset} bytes",
                            status=416, headers={"Range": f"0-{max(offset - 1, 0)}"})
    if request.content_length is not None and request.content_length != end - start + 1:
        raise RegistryError("RANGE_INVALID", f"Content-Range {start}-{end} does not match Content-Length "
                            f"{request.content_length}", status=416)
    return f"{start}-{end}"


def _offset(resp, fallback: int) -> int:
    """Bytes the upstream holds. distribution answers `0-0` for an empty upload as for a one-byte one,
    so `0-0` with nothing sent by us reads as empty."""
    match = RANGE_RE.match(resp.headers.get("Range", ""))
    if not match or (match.group(2) == "0" and fallback == 0):
        return fallback
    return int(match.group(2)) + 1


def _finish(name: str, state: dict, digest: str | None) -> Response:
    digest = _check_digest(digest)
    if has_body(request):
        _check_size(state["o"])
        with _upload_seat():
            return _put(name, state, digest)
    return _put(name, state, digest)


def _put(name: str, state: dict, digest: str) -> Response:
    location, verified = state["u"], False
    if has_body(request) and state["o"] == 0:
        # Monolithic: stream as a PATCH and verify the digest before anything is committed upstream.
        body = body_stream(request, algorithm=digest.split(":")[0], throttle=service().meter(state["d"]))
        resp = _upstream_call("PATCH", state, data=body, stream=False, replayable=False,
                              headers={"Content-Type": "application/octet-stream"})
        if resp.status_code != 202:
            raise _fail(resp)
        location = resp.headers.get("Location", location)
        if body.digest != digest:
            _upstream_call("DELETE", dict(state, u=location), "delete", stream=False).close()
            raise RegistryError("DIGEST_INVALID", f"content digest {body.digest} does not match {digest}")
        verified = True
    kwargs = {}
    if has_body(request) and not verified:
        kwargs = {"data": body_stream(request, throttle=service().meter(state["d"])), "replayable": False}
    resp = _upstream_call("PUT", dict(state, u=location), params={"digest": digest}, stream=False,
                          headers={"Content-Type": "application/octet-stream"}, **kwargs)
    if resp.status_code != 201:
        raise _fail(resp)
    return _created(name, digest)


def _status(name: str, state: dict) -> Response:
    resp = _upstream_call("GET", state, stream=False)
    if resp.status_code != 204:
        raise _fail(resp)
    location = resp.headers.get("Location", state["u"])
    return _accepted(name, state["d"], location, _offset(resp, state["o"]), resp, 204)


def _cancel(state: dict) -> Response:
    # distribution (and SWR) want the delete action for an upload's DELETE, not push.
    resp = _upstream_call("DELETE", state, "delete", stream=False)
    if resp.status_code not in (202, 204, 404):
        raise _fail(resp)
    return Response(None, status=204)


def get_blob(name: str, digest: str) -> Response:
    svc = service()
    dest = svc.map_name(name)
    headers = {"Range": request.headers["Range"]} if "Range" in request.headers else {}
    resp = svc.upstream.request(grant().principal, request.method, f"/v2/{dest}/blobs/{_check_digest(digest)}",
                                scopes(dest, "pull"), headers=headers, stream=request.method != "HEAD")
    if resp.status_code not in (200, 206):
        raise _fail(resp)
    if request.method == "HEAD":
        resp.close()
        return Response(None, status=resp.status_code, headers=copy_headers(resp))
    return stream_response(resp, throttle=svc.meter(dest, "pull"))


def delete_blob(name: str, digest: str) -> Response:
    svc = service()
    dest = svc.map_name(name)
    resp = svc.upstream.request(grant().principal, "DELETE", f"/v2/{dest}/blobs/{_check_digest(digest)}",
                                scopes(dest, "delete"), stream=False)
    if resp.status_code != 202:
        raise _fail(resp)
    return Response(None, status=202)
