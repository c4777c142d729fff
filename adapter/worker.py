"""The gunicorn worker of `swr-bridge serve`: gthread, but slow clients hold no thread and SIGTERM refuses at once.

gthread hands a connection to a thread as soon as its first byte arrives, and the thread then blocks
until the request head is complete: 36 connections that send one byte each held every thread of a
default instance. Here the main loop gathers the request head (TLS handshake included) without a
thread, for at most SWR_BRIDGE_HEADER_TIMEOUT seconds (10); only a complete head reaches a thread.
The body is read in the thread, where every socket read waits at most until the client falls below
SWR_BRIDGE_MIN_BODY_RATE bytes/s (1024) averaged over the last SWR_BRIDGE_BODY_RATE_WINDOW seconds
(60): a stalled body ends within the window, a Harbor throttled to 100 KiB/s is far above. The
response is written under the same rule (adapter/client_rate.py), so a client that stops reading a
pull is cut as well. Until then neither holds a transfer seat: a read or write that waits PARK_AFTER
seconds gives its seat back (adapter/seats.py) and parks; at most SWR_BRIDGE_PARKED_BODIES
(2 x threads) park, the oldest is cut beyond that.
On SIGTERM the listening sockets are closed at once, so new connections are refused rather than left
in the backlog, while requests in flight finish within the graceful timeout.
"""

from __future__ import annotations

import os
import selectors
import socket
import ssl
import time
from collections import deque
from functools import partial

from gunicorn import http, util
from gunicorn import sock as gsock
from gunicorn.http import body as gunicorn_body
from gunicorn.workers.gthread import TConn, ThreadWorker

from adapter.client_rate import RateReader, RateWriter
from adapter.pool import Pool
from adapter.seats import Seats, serving

HEAD_END = b"\r\n\r\n"
NOT_HTTP = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
NOTIFY_EVERY = 1.0  # seconds between heartbeats to the arbiter
HEAD_LIMIT = 64 * 1024  # past this the parser answers 400 from what it has: no more waiting
UNREAD_DRAIN_SECONDS = 0.1
LINGER_SECONDS, LINGER_BYTES = 2.0, 64 * 1024  # gunicorn's own bounds for a graceful close


BODY_PREFETCH = 64 * 1024  # body bytes gathered before a thread is given: a stall before them costs none


def body_prefetch(head: bytes) -> int:
    """How many body bytes to gather with this head: up to BODY_PREFETCH of its declared length,
    BODY_PREFETCH of a chunked body (or up to its last chunk, if sooner), none when the client
    waits for `100 Continue` before it sends its body."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"expect" and value == b"100-continue":
            return 0
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
    return BODY_PREFETCH if chunked else min(length, BODY_PREFETCH)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


class Body(gunicorn_body.Body):
    """gunicorn's request body plus readinto(): a body of known length is received straight into the
    caller's buffer (through the connection's RateReader), instead of through two BytesIO buffers and
    a bytes object per read. That copying, and the memory it took, was the relay's largest cost per byte."""

    def readinto(self, buffer) -> int:
        reader, view = self.reader, memoryview(buffer).cast("B")
        if self.buf.tell() or not isinstance(reader, gunicorn_body.LengthReader):
            data = self.read(len(view))
            view[:len(data)] = data
            return len(data)
        want = min(len(view), reader.length)
        if want <= 0:
            return 0
        unreader = reader.unreader
        held = unreader.take_buffered()  # the head's read-ahead: the body's first bytes
        try:
            if held:
                n = min(len(held), want)
                view[:n] = held[:n]
                unreader.unread(held[n:])
            else:
                n = unreader.sock.recv_into(view[:want])
        except Exception:
            self.failed = True  # where the next request starts is unknown: the connection closes
            raise
        reader.length -= n
        return n


class Conn(TConn):
    """A connection whose graceful close lingers in the worker's event loop, not in a blocking read.

    gunicorn's close_graceful reads until the peer closes, for up to 2 s, on the main thread: each
    client that keeps its socket open after a refused request would stop the whole worker that long.
    """

    def __init__(self, worker, *args):
        super().__init__(*args)
        self.worker, self.head = worker, bytearray()

    def close(self, graceful=False):
        if graceful and not isinstance(self.sock, ssl.SSLSocket):
            self.worker.linger(self)
        else:
            util.close(self.sock)


class BridgeWorker(ThreadWorker):
    """gthread with the request head gathered in the main loop and a minimum body rate."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = _env_float("SWR_BRIDGE_HEADER_TIMEOUT", 10.0)
        self.min_rate = _env_float("SWR_BRIDGE_MIN_BODY_RATE", 1024.0)
        self.rate_window = _env_float("SWR_BRIDGE_BODY_RATE_WINDOW", 60.0)
        self.heading: deque = deque()  # connections gathering a head, oldest deadline first
        self.seats = Seats(self.cfg.threads, int(_env_float("SWR_BRIDGE_PARKED_BODIES", 2 * self.cfg.threads)))
        self.lingering: deque = deque()  # connections closing: (deadline, socket, bytes drained)
        self._notified = float("-inf")

    def notify(self):
        # gthread calls this on every wake-up of its loop (a file time update each, many per request
        # under load); the arbiter only needs it within its timeout (30 s or more).
        now = time.monotonic()
        if now - self._notified >= NOTIFY_EVERY:
            self._notified = now
            super().notify()

    # --- accepting and gathering heads (main thread) ----------------------------------------------
    def accept(self, listener):
        try:
            client, addr = listener.accept()
        except OSError:  # EAGAIN, ECONNABORTED: nothing to accept after all
            return
        self.nr_conns += 1
        conn = Conn(self, self.cfg, client, addr, listener.getsockname())
        if self.cfg.is_ssl:
            try:
                conn.sock = gsock.ssl_context(self.cfg).wrap_socket(
                    client, server_side=True, do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
            except (OSError, ValueError):
                self._drop(conn)
                return
            conn.handshaken = False
        self._gather(conn)

    def _gather(self, conn) -> None:
        conn.timeout, conn.wanted = time.monotonic() + self.header_timeout, None
        self.heading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))

    def _on_head_bytes(self, conn, _fileobj) -> None:
        try:
            if getattr(conn, "handshaken", True) is False:
                conn.sock.do_handshake()
                conn.handshaken = True
            data = conn.sock.recv(HEAD_LIMIT)
            while data and isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending():
                data += conn.sock.recv(HEAD_LIMIT)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ValueError):
            data = b""
        if not data:
            self._stop_gathering(conn)
            self._drop(conn)
            return
        conn.head += data
        end = conn.head.find(HEAD_END)
        if end < 0 and conn.wanted is None and not conn.head[:1].isalpha():
            # Not a request line (a TLS ClientHello starts with 0x16): answered at once from this loop,
            # so a client probing HTTPS first (skopeo, docker) falls back to HTTP now, not after
            # header_timeout, and no thread is given to bytes that can never become a request.
            self._stop_gathering(conn)
            try:
                conn.sock.send(NOT_HTTP)
            except OSError:
                pass
            self.nr_conns -= 1
            conn.close(graceful=True)
            return
        if end < 0 and len(conn.head) < HEAD_LIMIT:
            return
        if end >= 0 and conn.wanted is None:
            conn.wanted = end + len(HEAD_END) + body_prefetch(bytes(conn.head[:end]))
            self._reader(conn).reset()
            data = conn.head[end + len(HEAD_END):]
        if conn.wanted is not None:
            # The body's first bytes arrive at the minimum rate, or the connection ends here.
            conn.reader.count(len(data))
            conn.timeout = conn.reader.deadline()
        if end < 0 or len(conn.head) >= conn.wanted or conn.head.endswith(b"\r\n0\r\n\r\n"):
            self._stop_gathering(conn)
            self._dispatch(conn)

    def _reader(self, conn) -> RateReader:
        if conn.parser is None:
            conn.initialized = True
            seat = self.seats.seat(conn.sock)
            conn.reader = RateReader(conn.sock, self.min_rate, self.rate_window, seat=seat)
            peer = conn.client[0] if isinstance(conn.client, tuple) else str(conn.client)
            conn.writer = RateWriter(conn.sock, self.min_rate, self.rate_window, seat=seat, peer=peer)
            conn.parser = http.get_parser(self.cfg, conn.reader, conn.client)
        return conn.reader

    # --- threads: `threads` seats for requests, parked body reads beside them ----------------------
    def get_thread_pool(self):
        return Pool(self.seats.size + self.seats.parked_max)

    def enqueue_req(self, conn):
        done = self.method_queue.defer
        self.tpool.submit(self.handle, conn, done=lambda call: done(self.finish_request, conn, call))

    def handle(self, conn):
        seat = conn.reader.seat
        seat.take()
        serving(seat)
        try:
            return super().handle(conn)
        finally:
            serving(None)
            seat.release()

    def _stop_gathering(self, conn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            self.heading.remove(conn)
        except ValueError:
            pass

    def _dispatch(self, conn) -> None:
        """A complete head: the connection goes to a thread with the head already buffered."""
        self._reader(conn)
        conn.parser.unreader.unread(bytes(conn.head))
        conn.head = bytearray()
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.heading if c.timeout <= now]:  # deadlines move once a head is in
            self._stop_gathering(conn)
            self._drop(conn)
        while self.lingering and self.lingering[0][0] <= now:
            self._unlinger(self.lingering[0])

    # --- closing without blocking the loop ----------------------------------------------------------
    def linger(self, conn) -> None:
        """Sends FIN, then drains what the client still sends from the event loop, as close_graceful would."""
        sock = conn.sock
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            util.close(sock)
            return
        entry = [time.monotonic() + LINGER_SECONDS, sock, 0]
        self.lingering.append(entry)
        self.poller.register(sock, selectors.EVENT_READ, partial(self._on_linger_bytes, entry))

    def _on_linger_bytes(self, entry, _fileobj) -> None:
        try:
            data = entry[1].recv(LINGER_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        entry[2] += len(data)
        if not data or entry[2] >= LINGER_BYTES:
            self._unlinger(entry)

    def _unlinger(self, entry) -> None:
        try:
            self.poller.unregister(entry[1])
        except (KeyError, ValueError, OSError):
            pass
        try:
            self.lingering.remove(entry)
        except ValueError:
            pass
        util.close(entry[1])

    def handle_request(self, req, conn):
        if type(req.body) is gunicorn_body.Body and not req.body.buf.tell():
            req.body = Body(req.body.reader)  # nothing read yet: the same reader, with readinto()
        # The response is written through the connection's RateWriter (gunicorn writes to conn.sock): a
        # client that stops reading is cut within the rate window instead of holding this thread for good.
        sock = conn.sock
        conn.writer.reset()
        conn.sock = conn.writer
        try:
            return super().handle_request(req, conn)
        finally:
            conn.sock = sock

    # --- kept-alive connections: their next head is gathered the same way -------------------------
    def on_client_socket_readable(self, conn, client):
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        conn.head = bytearray()
        self._gather(conn)
        self._on_head_bytes(conn, client)

    def finish_request(self, conn, fs):
        buffered = conn.parser.unreader.buf.getvalue() if conn.parser is not None else b""
        if buffered and HEAD_END not in buffered and self.alive and not fs.cancelled() and fs.result():
            # Read-ahead of a body drain holding only part of the next head: gather the rest here.
            conn.head = bytearray(conn.parser.unreader.take_buffered())
            conn.sock.setblocking(False)
            self._gather(conn)
            return
        super().finish_request(conn, fs)

    def _keepalive_after(self, conn, keepalive):
        # gunicorn drains a body the app left unread for up to 5 s, in the thread: a client trickling
        # that body holds the thread so long. Only what is already here is drained; else the
        # connection closes (and lingers in the event loop).
        if not keepalive:
            return False
        return bool(conn.parser.finish_body(deadline=time.monotonic() + UNREAD_DRAIN_SECONDS))

    # --- stopping ---------------------------------------------------------------------------------
    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled)
        if not self.alive:
            # Closed now, not when the last upload ends: new connections are refused at once instead
            # of waiting in the backlog of a socket nobody accepts from any more.
            for listener in self.sockets:
                listener.close()
