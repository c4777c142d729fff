"""A worker's transfer seats: `threads` requests run at once; a stalled body read gives its seat back and parks.

A thread blocked in a body read cannot be handed back to the pool (the application's frames are on
its stack), but what it holds need not be scarce: the pool has `parked_max` threads beyond the seats,
and a read that has waited PARK_AFTER seconds without a byte gives its seat to the next request and
waits on as a parked thread. Its next bytes take a seat again (waiting for one if all are busy). At
most `parked_max` reads are parked; one more cuts the oldest (its socket is shut, its read ends), so
stalled bodies cost cheap parked threads, never the seats that transfers and /healthz need.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

PARK_AFTER = 0.25  # seconds without a byte before a read parks: the most a stalled body holds a seat
_serving = threading.local()  # .seat: the Seat of the request this thread runs (set by the worker)


class SlowClient(TimeoutError):
    """The client sent its body slower than the minimum rate, or stalled while too many others did."""


def serving(seat: Seat | None) -> None:
    """The worker names the seat of the request its thread runs now (None when it is over)."""
    _serving.seat = seat


@contextmanager
def parked():
    """Gives the running request's seat back while it waits for something other than its body (an
    upload seat at SWR), so that waiting requests never fill the seats /healthz needs; takes one
    again after the wait (not after a failed one: that request only answers). Yields `abandoned()`,
    true once the parked request is cut (then the take raises SlowClient). Outside the worker (no
    seat) it only waits."""
    seat = getattr(_serving, "seat", None)
    if seat is None:
        yield lambda: False
        return
    seat.park()
    yield lambda: seat.cut  # the wait may end early: the request is gone
    seat.take()


class Seats:
    """`size` seats and at most `parked_max` parked reads, shared by the threads of one worker."""

    def __init__(self, size: int, parked_max: int, park_after: float = PARK_AFTER):
        self.size, self.parked_max, self.park_after = size, parked_max, park_after
        self.free = size
        self.cond = threading.Condition()
        self.parked: dict[Seat, None] = {}  # insertion order: the oldest parked first

    def seat(self, sock) -> Seat:
        """A seat for the connection on `sock` (the socket itself: while a response is written the
        worker's connection holds a RateWriter in its place)."""
        return Seat(self, sock)


class Seat:
    """One connection's claim on a seat: taken for each request, given back while its body stalls."""

    def __init__(self, seats: Seats, sock):
        self.seats, self.sock = seats, sock
        self.park_after = seats.park_after
        self.held = self.cut = False

    def take(self) -> None:
        """Waits for a free seat; raises SlowClient if this parked read is cut meanwhile."""
        seats = self.seats
        with seats.cond:
            while seats.free == 0 and not self.cut:
                seats.cond.wait()
            if self.cut:
                raise SlowClient(f"request body stalled while {seats.parked_max} others were parked")
            seats.parked.pop(self, None)
            seats.free -= 1
            self.held = True

    def park(self) -> None:
        """Gives the seat back while the body read waits on; cuts the oldest parked read past the bound."""
        seats = self.seats
        with seats.cond:
            self._give()
            seats.parked[self] = None
            while len(seats.parked) > seats.parked_max:
                oldest = next(iter(seats.parked))
                del seats.parked[oldest]
                oldest._cut()

    def release(self) -> None:
        """The request is over (answered, failed or cut): its seat, if it holds one, is free."""
        with self.seats.cond:
            self.seats.parked.pop(self, None)
            self._give()

    def _give(self) -> None:
        if self.held:
            self.held = False
            self.seats.free += 1
            self.seats.cond.notify()

    def _cut(self) -> None:
        # Called with the lock held. shutdown (not close) wakes the read blocked on this socket in its
        # thread; for TLS the plain socket's shutdown, as the TLS layer's is not safe across threads.
        self.cut = True
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass
        self.seats.cond.notify_all()
