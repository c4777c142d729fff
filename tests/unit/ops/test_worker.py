"""The worker's pieces without a server: what body is gathered with a head, the minimum rates both ways, parked reads."""

import errno
import logging
import socket
import threading

import pytest

from adapter.client_rate import RateReader, RateWriter
from adapter.seats import Seats, SlowClient
from adapter.worker import BODY_PREFETCH, body_prefetch


@pytest.mark.parametrize("head,wanted", [
    (b"GET / HTTP/1.1\r\nHost: a", 0),
    (b"PATCH /u HTTP/1.1\r\nContent-Length: 10", 10),
    (b"PATCH /u HTTP/1.1\r\ncontent-length: 99999999", BODY_PREFETCH),
    (b"PATCH /u HTTP/1.1\r\nTransfer-Encoding: chunked", BODY_PREFETCH),
    (b"PUT /u HTTP/1.1\r\nContent-Length: 5000000\r\nExpect: 100-continue", 0),
])
def test_body_prefetch(head, wanted):
    assert body_prefetch(head) == wanted


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


class Feed:
    """A socket stand-in: hands out `chunks`, then times out (the clock jumps by the timeout)."""

    def __init__(self, clock, chunks):
        self.clock, self.chunks, self.timeout = clock, list(chunks), None

    def settimeout(self, value):
        if value is not None:
            self.timeout = value

    def recv(self, size):
        if self.chunks:
            delay, data = self.chunks.pop(0)
            self.clock.now += delay
            return data
        self.clock.now += self.timeout
        raise socket.timeout()


def test_a_stalled_body_ends_after_the_window():
    clock = Clock()
    reader = RateReader(Feed(clock, [(0.1, b"x" * 100)]), rate=1024, window=60, clock=clock)
    assert reader.recv(1024) == b"x" * 100
    with pytest.raises(SlowClient):
        reader.recv(1024)
    assert 60 <= clock.now - 100 <= 61


def test_a_body_at_the_rate_keeps_going_and_a_burst_buys_no_stall_beyond_the_window():
    clock = Clock()
    steady = [(1.0, b"y" * 2048)] * 200  # 2 KiB/s for 200 s: above 1 KiB/s all along
    reader = RateReader(Feed(clock, steady), rate=1024, window=60, clock=clock)
    assert sum(len(reader.recv(4096)) for _ in range(200)) == 200 * 2048
    burst = RateReader(Feed(clock, [(0.0, b"z" * (10 << 20))]), rate=1024, window=60, clock=clock)
    start = clock.now
    burst.recv(10 << 20)
    with pytest.raises(SlowClient):  # 10 MiB at once, then nothing: still ended within the window
        burst.recv(1024)
    assert clock.now - start <= 62


class Conn:
    def __init__(self):
        self.sock = socket.socket()


def test_a_parked_read_gives_its_seat_back_and_past_the_bound_the_oldest_is_cut():
    seats = Seats(size=1, parked_max=2)
    first, second, third, fresh = (seats.seat(Conn().sock) for _ in range(4))
    for seat in (first, second, third):  # each takes the one seat, stalls and parks
        seat.take()
        seat.park()
    assert seats.free == 1 and first.cut and not second.cut and not third.cut
    with pytest.raises(SlowClient):  # its bytes came, but it was cut meanwhile
        first.take()
    fresh.take()
    assert seats.free == 0
    woke = threading.Event()

    def resume():
        second.take()  # data again: waits for the seat the fresh request holds
        woke.set()

    waiter = threading.Thread(target=resume)
    waiter.start()
    assert not woke.wait(0.2)
    fresh.release()
    assert woke.wait(2)
    waiter.join()
    second.release()
    third.release()
    assert seats.free == 1 and not seats.parked


def test_a_read_that_waits_parks_once_and_takes_its_seat_again_with_the_next_bytes():
    clock = Clock()
    seats = Seats(size=1, parked_max=4)
    seat = seats.seat(Conn().sock)
    reader = RateReader(Feed(clock, [(0.0, b"a" * 2048)]), rate=1024, window=60, clock=clock, seat=seat)
    seat.take()
    assert reader.recv(4096) == b"a" * 2048 and seats.free == 0  # at full speed: never parked
    reader.sock = Pause(clock, seat.park_after, probe=lambda: seats.free)
    assert reader.recv(4096) == b"b" and seat.held and not seats.parked
    assert reader.sock.seen == [0, 1]  # the seat was free while the read waited on
    assert reader.sock.waits == [seat.park_after, pytest.approx(60 - seat.park_after, abs=1)]


class Pause(Feed):
    """Nothing for `pause` seconds, then one byte (to a read that waits longer than that)."""

    def __init__(self, clock, pause, probe):
        super().__init__(clock, [])
        self.pause, self.probe, self.waits, self.seen = pause, probe, [], []

    def recv(self, size):
        self.waits.append(self.timeout)
        self.seen.append(self.probe())
        if self.timeout <= self.pause:
            return super().recv(size)
        self.clock.now += 1.0
        return b"b"


def test_the_arbiter_heartbeat_is_sent_at_most_once_a_second(monkeypatch):
    from adapter import worker as worker_module
    from adapter.worker import BridgeWorker

    beats, now = [], [100.0]
    bridge = BridgeWorker.__new__(BridgeWorker)  # only the heartbeat is under test
    bridge._notified = float("-inf")
    monkeypatch.setattr("gunicorn.workers.base.Worker.notify", lambda self: beats.append(now[0]))
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: now[0])
    for step in (0.0, 0.2, 0.5, 0.9, 1.0, 1.5, 2.1):  # gthread's loop wakes on every event
        now[0] = 100.0 + step
        bridge.notify()
    assert beats == [100.0, 101.0, 102.1]


class Sink(Feed):
    """A socket a response is written to: takes `takes` (delay, bytes accepted) in turn, then nothing."""

    def __init__(self, clock, takes):
        super().__init__(clock, [])
        self.takes, self.sent, self.eager = list(takes), [], 0

    def send(self, data, flags=0):
        if flags & socket.MSG_DONTWAIT:  # the eager try: only what is free at once
            self.eager += 1
            if not self.takes or self.takes[0][0] > 0:
                raise BlockingIOError(errno.EAGAIN, "would block")
        if self.takes and (self.timeout is None or self.takes[0][0] <= self.timeout):
            delay, n = self.takes.pop(0)
            self.clock.now += delay
            self.sent.append(bytes(data[:n]))
            return min(n, len(data))
        if self.takes:  # the client reads again later than this wait lasts
            self.takes[0] = (self.takes[0][0] - self.timeout, self.takes[0][1])
        self.clock.now += self.timeout
        raise socket.timeout()


def test_a_response_that_fits_goes_in_one_eager_send():
    clock = Clock()
    sink = Sink(clock, [(0.0, 1 << 20)])
    RateWriter(sink, rate=1024, window=60, clock=clock).sendall(b"r" * 5000)
    assert sink.sent == [b"r" * 5000] and sink.eager == 1 and sink.timeout is None  # no timed wait at all


def test_a_client_that_stops_reading_is_cut_after_the_window(caplog):
    clock = Clock()
    writer = RateWriter(Sink(clock, [(0.0, 4096)]), rate=1024, window=60, clock=clock, peer="10.0.0.7")
    with caplog.at_level(logging.WARNING, logger="swr_bridge.worker"), pytest.raises(BrokenPipeError):
        writer.sendall(b"b" * (1 << 20))
    assert 60 <= clock.now - 100 <= 61 and writer.total == 4096
    assert "10.0.0.7: response taken slower than 1024 B/s over 60 s, connection cut after 4096 bytes" in caplog.text


def test_a_slow_but_steady_reader_gets_the_whole_response():
    clock = Clock()
    sink = Sink(clock, [(1.0, 2048)] * 100)  # 2 KiB/s for 100 s: above the rate all along
    RateWriter(sink, rate=1024, window=60, clock=clock).sendall(b"s" * (100 * 2048))
    assert b"".join(sink.sent) == b"s" * (100 * 2048)


def test_a_stalled_send_parks_its_seat_and_takes_it_again_when_the_client_reads():
    clock = Clock()
    seats = Seats(size=1, parked_max=4)
    seat = seats.seat(Conn().sock)
    seat.take()
    free_while_waiting = []

    class Slow(Sink):
        def send(self, data, flags=0):
            if not flags:
                free_while_waiting.append((seats.free, self.timeout))
            return super().send(data, flags)

    sink = Slow(clock, [(5.0, 3000)])  # the client reads again only after 5 s
    RateWriter(sink, rate=1024, window=60, clock=clock, seat=seat).sendall(b"p" * 3000)
    assert sink.sent == [b"p" * 3000] and seat.held and not seats.parked
    # The first wait held the seat for park_after; the rest of the wait it was free for others.
    assert free_while_waiting == [(0, seat.park_after), (1, pytest.approx(60 - seat.park_after, abs=1))]
