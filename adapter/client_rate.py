"""The minimum rate a client keeps both ways: request bodies it sends, and responses it takes.

Each socket operation waits at most until the bytes moved over the last `window` seconds would fall
below `rate * window`; past that the request ends. A wait of more than the seat's `park_after` gives
the request's transfer seat back while it goes on waiting (adapter/seats.py), so stalled clients hold
parked threads, never the seats that transfers and /healthz need.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import time
from collections import deque

from adapter.seats import SlowClient

log = logging.getLogger("swr_bridge.worker")
_WAITED = (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class RateWindow:
    """Bytes moved on one socket over a sliding window, and how long the next operation may wait."""

    what = "transfer"

    def __init__(self, sock, rate: float, window: float, clock=time.monotonic, seat=None):
        self.sock, self.rate, self.window, self.clock, self.seat = sock, rate, window, clock, seat
        self.cap = None  # a bound of the caller's own on each wait (gunicorn's drain of an unread body)
        self.reset()

    def reset(self) -> None:
        """A new request: the window starts now."""
        now = self.clock()
        self.total, self.last = 0, now
        self.samples: deque[tuple[float, int]] = deque([(now, 0)])  # (time, total before it), 1 per second

    def deadline(self) -> float:
        """When the window would hold too few bytes if nothing more moves."""
        floor = self.total - self.rate * self.window
        for when, before in self.samples:
            if before > floor:
                return when + self.window
        return self.last + self.window  # every byte moved in the last bucket: its window ends then

    def count(self, n: int) -> None:
        now = self.clock()
        if now - self.samples[-1][0] >= 1.0:
            self.samples.append((now, self.total))
        while len(self.samples) > 1 and now - self.samples[1][0] > self.window:
            self.samples.popleft()
        self.total, self.last = self.total + n, now

    def _timed(self, operation, arg):
        parked = False
        while True:
            wait = self.deadline() - self.clock()
            if wait <= 0:
                raise SlowClient(f"{self.what} slower than {self.rate:.0f} B/s over {self.window:.0f} s")
            limit = wait if self.cap is None else min(wait, self.cap)
            step = limit if parked or self.seat is None else min(limit, self.seat.park_after)
            self.sock.settimeout(step)
            try:
                done = operation(arg)
            except _WAITED:
                if step < limit:  # nothing moved for a while: the seat goes back while it waits on
                    self.seat.park()
                    parked = True
                elif self.cap is not None and self.cap < wait:
                    raise
                continue
            finally:
                self.sock.settimeout(None)
            if parked:
                self.seat.take()  # raises SlowClient if cut while parked
            return done

    def __getattr__(self, name):
        return getattr(self.sock, name)


class RateReader(RateWindow):
    """Stands in for the socket behind gunicorn's body reader."""

    what = "request body"

    def recv(self, size: int) -> bytes:
        data = self._timed(self.sock.recv, size)
        self.count(len(data))
        return data

    def recv_into(self, buffer) -> int:
        n = self._timed(self.sock.recv_into, buffer)
        self.count(n)
        return n

    # gunicorn bounds its drain of an unread body with a timeout of its own: it applies on top.
    def settimeout(self, value) -> None:
        self.cap = value

    def gettimeout(self):
        return self.cap


class RateWriter(RateWindow):
    """Stands in for the socket a response is written to: a client that stops reading (a pull of a
    large blob, say) would otherwise hold its thread, and the upstream download behind it, for good."""

    what = "response taken"

    def __init__(self, sock, rate: float, window: float, clock=time.monotonic, seat=None, peer: str = ""):
        super().__init__(sock, rate, window, clock, seat)
        self.peer = peer
        # A plain socket first tries each send without waiting (one call, no mode switch): a response
        # that fits the socket's buffer, which is nearly every one, costs nothing more.
        self._eager = not isinstance(sock, ssl.SSLSocket)

    def sendall(self, data) -> None:
        view = memoryview(data).cast("B")
        try:
            while len(view):
                n = self._send_now(view) if self._eager else 0
                if not n:
                    n = self._timed(self.sock.send, view)
                self.count(n)
                view = view[n:]
        except SlowClient as exc:
            log.warning("%s: %s, connection cut after %d bytes", self.peer or "client", exc, self.total)
            # EPIPE: gunicorn ends the request quietly (the access line is still written).
            raise BrokenPipeError(errno.EPIPE, str(exc)) from None

    def _send_now(self, view) -> int:
        try:
            return self.sock.send(view, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0

    def send(self, data) -> int:
        self.sendall(data)
        return len(data)
