"""BodyStream received into one buffer (readinto): every byte in order, nothing of a short body's first MiB."""

import io
import os

import pytest

from adapter.transfer.streams import BUFFER, CHUNK, ClientGone, SizedBodyStream

MIB = 1024 * 1024


class Trickle(io.RawIOBase):
    """A socket-like body: readinto() hands out at most `step` bytes, then 0 at the end of `data`."""

    def __init__(self, data: bytes, step: int = 100_000):
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        piece = self.data[self.pos:self.pos + min(len(buffer), self.step)]
        buffer[:len(piece)] = piece
        self.pos += len(piece)
        return len(piece)


def sent(body) -> list[bytes]:
    return [bytes(piece) for piece in body]  # copied as they go: the buffer is reused


def test_a_whole_body_goes_through_in_order_and_the_budget_hears_a_mib_at_a_time():
    data = os.urandom(3 * MIB + 12345)
    booked = []
    body = SizedBodyStream(Trickle(data), len(data), algorithm="sha256", throttle=booked.append)
    pieces = sent(body)
    assert b"".join(pieces) == data and body.count == len(data)
    assert max(map(len, pieces)) == CHUNK - 1 and all(len(p) <= BUFFER for p in pieces[1:])
    assert sum(booked) == len(data) and all(n >= CHUNK for n in booked[:-1])
    assert body.digest.startswith("sha256:")


def test_a_body_cut_off_within_its_first_mib_sends_nothing():
    data = os.urandom(300_000)
    body = SizedBodyStream(Trickle(data), MIB, algorithm=None)
    pieces = []
    with pytest.raises(ClientGone, match="300000 of 1048576"):
        for piece in body:
            pieces.append(bytes(piece))
    assert pieces == [] and body.digest is None


def test_a_body_cut_off_later_never_sends_its_last_fill():
    data = os.urandom(2 * MIB)
    body = SizedBodyStream(Trickle(data), 4 * MIB, algorithm=None)
    pieces = []
    with pytest.raises(ClientGone):
        for piece in body:
            pieces.append(bytes(piece))
    forwarded = b"".join(pieces)
    assert data.startswith(forwarded) and len(forwarded) < len(data)
