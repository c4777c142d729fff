"""The budget shared by real processes through one file: no lost bookings, one rate for all of
them, fair shares between them, and a forked child that does not share its parent's lock."""

import fcntl
import multiprocessing
import struct
import time

import pytest

from adapter.throttle import BURST, BandwidthSchema, Budget, SharedClock

MIB = 1024 * 1024
SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters: nothing inherited but the path


def book(path: str, times: int, nbytes: int, rate: float) -> None:
    clock = SharedClock(path)
    for _ in range(times):
        clock.reserve(0, nbytes, rate)


def transfer(path: str, total: int, chunk: int, rate: str, barrier, results) -> None:
    budget = Budget(BandwidthSchema().load({"limit": rate}), SharedClock(path), on_wait=None)
    throttle = budget.meter("org")
    barrier.wait(30)  # interpreters take a while to spawn: start together
    start = time.monotonic()
    for _ in range(total // chunk):
        throttle(chunk)
    results.put((start, time.monotonic()))


def free_at(path: str, slot: int = 0) -> float:
    with open(path, "rb") as fh:
        fh.seek(slot * 8)
        return struct.unpack("d", fh.read(8))[0]


def test_no_booking_is_lost_between_processes(tmp_path):
    """4 processes x 400 bookings of 1000 s each: the link's free time moves by exactly the sum."""
    path = str(tmp_path / "budget")
    SharedClock(path).close()
    before = time.monotonic()
    procs = [SPAWN.Process(target=book, args=(path, 400, 1000, 1.0)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    after = time.monotonic()
    first_booking = free_at(path) - 4 * 400 * 1000
    assert before <= first_booking <= after  # a single lost update would be 1000 s off


def test_processes_share_one_rate_and_share_it_fairly(tmp_path):
    """3 processes each send 3 MiB under one 6 MiB/s budget: 1.5 s together, not 0.5 s each."""
    path = str(tmp_path / "budget")
    SharedClock(path).close()
    results, barrier = SPAWN.Queue(), SPAWN.Barrier(3)
    procs = [SPAWN.Process(target=transfer, args=(path, 3 * MIB, 256 * 1024, "6MiB/s", barrier, results))
             for _ in range(3)]
    for p in procs:
        p.start()
    spans = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    rate = 9 * MIB / (end - start + BURST)  # a link idle at the start lends BURST seconds at once
    assert rate == pytest.approx(6 * MIB, rel=0.12)
    # Each ran alongside the others: its own rate is near a third of the budget (on two cores the
    # process scheduled first tends to finish a few quanta early, hence the margin).
    for s, e in spans:
        assert 3 * MIB / (e - s) == pytest.approx(2 * MIB, rel=0.35)


def hold_then_book(clock: SharedClock, results) -> None:
    start = time.monotonic()
    clock.reserve(0, 1, 1.0)
    results.put(time.monotonic() - start)


def test_a_forked_child_takes_the_lock_on_its_own_description(tmp_path):
    """flock belongs to an open file description; a child using its parent's would not be excluded."""
    clock = SharedClock(str(tmp_path / "budget"))
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    fcntl.flock(clock._fh, fcntl.LOCK_EX)  # the parent holds the budget
    try:
        child = fork.Process(target=hold_then_book, args=(clock, results))
        child.start()
        time.sleep(0.6)
    finally:
        fcntl.flock(clock._fh, fcntl.LOCK_UN)
    waited = results.get(timeout=10)
    child.join(10)
    assert waited >= 0.4
