"""Bytes on their way between registries: bodies hashed and metered as they pass, upstream bodies read bounded."""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Callable, Iterator

import requests

from adapter.transfer.errors import TransferError

CHUNK = 1 << 20  # bytes per read of a stream without readinto(), and per call of a body's throttle
# What a body with readinto() is received into and sent from after its first CHUNK, one per upload:
# 64 uploads at once (16 pushes of 4 layers) hold 16 MiB, and 4 sends per MiB cost nothing measurable.
BUFFER = 256 * 1024
PASS_HEADERS = ("Content-Type", "Content-Length", "Docker-Content-Digest", "ETag", "Content-Range",
                "Accept-Ranges", "OCI-Subject", "Docker-Upload-UUID", "Range", "Last-Modified")


class ClientGone(TransferError):
    """The client's request body ended early: a reset, a disconnect or a body below the minimum rate.

    Not an OSError on purpose: urllib3 swallows ECONNRESET while it sends a body (it takes it for
    the upstream's), then waits for an answer the upstream never gives; this ends the request at once.
    """

    def __init__(self, message: str):
        super().__init__("BLOB_UPLOAD_INVALID", message, status=400)


class BodyStream:
    """Iterates a WSGI input in chunks, counting and hashing; `throttle(n)` may block to hold a budget.

    With `algorithm=None` nothing is hashed: a chunk PATCH's digest is never checked (only the final PUT
    names one), and hashing cost more CPU than every other step of relaying a byte together.
    """

    def __init__(self, stream, algorithm: str | None = "sha256", throttle: Callable[[int], None] | None = None):
        self._stream, self._throttle = stream, throttle
        self.hasher = hashlib.new(algorithm) if algorithm else None
        self.count = 0
        self.expected: int | None = None  # the declared length, when there is one
        self._unmetered = 0  # bytes passed that the throttle has not been told of yet

    def __iter__(self) -> Iterator[bytes]:
        # A piece is held back until the next read. When the client goes away mid-body (Harbor's chunk
        # PATCH cut off), the body ends short of Content-Length (or gunicorn's chunked reader raises):
        # the upstream request is aborted and never gets its last bytes, so SWR's upload keeps the
        # size that Harbor's upload-status GET then reports and resumes from.
        if hasattr(self._stream, "readinto"):
            return self._into_buffer()
        return self._by_reads()

    def _by_reads(self) -> Iterator[bytes]:
        pending = b""
        while True:
            buf = self._guard(self._stream.read, CHUNK)
            if not buf:
                break
            if pending:
                yield pending
            self._passed(buf)
            pending = buf
        self._check_length()
        if pending:
            yield pending

    def _into_buffer(self) -> Iterator[memoryview]:
        """One buffer per body, received into and sent from: no bytes object per chunk, no copy.

        Each fill but its last byte goes upstream; that byte moves to the front and waits for the next
        fill, and the fill the body ends in goes only once the body's length checks out: a body that
        ends short never completes the upstream request. The first fill is a whole
        CHUNK: a PATCH cut off within its first MiB sends SWR nothing, and its upload stays resumable
        (distribution refuses an upload that got part of a cut-off PATCH). After it the buffer's tail is
        handed back to the kernel and fills are BUFFER long, so 64 uploads at once hold about 16 MiB.
        The consumer (the transport's wire) has sent a piece before it asks for the next, so the buffer is free
        again by then. An anonymous mapping, not a bytearray: its pages go back to the kernel at once,
        whatever malloc would have kept.
        """
        area = mmap.mmap(-1, CHUNK)
        view, size, held = memoryview(area), CHUNK, 0
        try:
            while True:
                filled, ended = held, False
                while filled < size and not ended:
                    n = self._guard(self._stream.readinto, view[filled:size])
                    filled, ended = filled + n, not n
                self._passed(view[held:filled], CHUNK)
                if ended:  # the whole body is here, or it ended short: then nothing more goes upstream
                    self._meter()
                    self._check_length()
                    if filled:
                        yield view[:filled]
                    return
                yield view[:filled - 1]
                view[0], held = view[filled - 1], 1
                if size == CHUNK:
                    size = BUFFER
                    area.madvise(mmap.MADV_DONTNEED, BUFFER)  # BUFFER is whole pages
        finally:
            try:
                view.release()
                area.close()
            except BufferError:  # a piece is still referenced (a send failed): the mapping goes with it
                pass

    def _passed(self, piece, metered_from: int = 0) -> None:
        """Hashes and counts a piece; the throttle hears of it once `metered_from` bytes have passed, so
        the budget books a CHUNK at a time, whatever the size of the pieces."""
        if self.hasher is not None:
            self.hasher.update(piece)
        self.count += len(piece)
        self._unmetered += len(piece)
        if self._unmetered >= metered_from:
            self._meter()

    def _meter(self) -> None:
        if self._throttle and self._unmetered:
            self._throttle(self._unmetered)
        self._unmetered = 0

    def _check_length(self) -> None:
        if self.expected is not None and self.count != self.expected:
            raise ClientGone(f"the request body ended after {self.count} of {self.expected} bytes "
                             "(client disconnected)")

    def _guard(self, read, arg):
        try:
            return read(arg)
        except (OSError, ValueError) as exc:  # reset, timeout below the minimum rate, closed socket
            raise ClientGone(f"the request body ended after {self.count} bytes ({type(exc).__name__})") from None
        except Exception as exc:  # werkzeug's ClientDisconnected, gunicorn's NoMoreData and kin
            if type(exc).__name__ in ("ClientDisconnected", "NoMoreData", "ChunkMissingTerminator",
                                      "InvalidChunkSize"):
                raise ClientGone(f"the request body ended after {self.count} bytes ({type(exc).__name__})") from None
            raise

    @property
    def digest(self) -> str | None:
        if self.hasher is None:
            return None
        return f"{self.hasher.name}:{self.hasher.hexdigest()}"


class SizedBodyStream(BodyStream):
    """A BodyStream with a known length, so requests sends Content-Length instead of chunked encoding."""

    def __init__(self, stream, length: int, **kw):
        super().__init__(stream, **kw)
        self._length = self.expected = length

    def __len__(self) -> int:
        return self._length


def copy_headers(upstream: requests.Response, names=PASS_HEADERS) -> dict[str, str]:
    return {name: upstream.headers[name] for name in names if name in upstream.headers}


def read_limited(upstream: requests.Response, limit: int) -> bytes:
    """Reads a small upstream body (lists, errors) with a hard cap."""
    data = b""
    for chunk in upstream.raw.stream(64 * 1024, decode_content=True):
        data += chunk
        if len(data) > limit:
            upstream.close()
            raise ValueError(f"upstream body exceeds {limit} bytes")
    upstream.close()
    return data


def error_body(upstream: requests.Response, limit: int = 64 * 1024) -> bytes:
    """The first bytes of an upstream error body, whether or not it was streamed."""
    try:  # iter_content serves a body already read (stream=False) as well as one still to be read
        return next(upstream.iter_content(limit), b"")[:limit]
    except (requests.RequestException, OSError):
        return b""
    finally:
        upstream.close()
