"""The worker's pieces without a server: what body is gathered with a head, and the minimum body rate."""

import socket

import pytest

from adapter.worker import BODY_PREFETCH, RateReader, SlowClient, body_prefetch


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
