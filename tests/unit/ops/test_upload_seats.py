"""Upload seats shared by real processes through one file: a tenant's seats hold across processes and
threads, tenants are apart, a freed seat is taken again, and a process that dies leaks none."""

import multiprocessing
import os
import signal
import threading
import time

import pytest

from adapter.upload_seats import NoSeat, UploadSeats

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing inherited but the path


def hold(path: str, size: int, key: str, count: int, ready, release) -> None:
    seats = UploadSeats(size, path)
    held = [seats.try_take(key) for _ in range(count)]
    assert None not in held
    ready.set()
    release.wait(30)
    for offset in held:
        seats.give(offset)


@pytest.fixture
def other_process(tmp_path):
    """Starts hold() in another process; yields a function taking (path, key, count, size), returning it."""
    started = []

    def start(path, key, count, size=3):
        ready, release = SPAWN.Event(), SPAWN.Event()
        proc = SPAWN.Process(target=hold, args=(path, size, key, count, ready, release))
        proc.start()
        assert ready.wait(30), "the other process did not take its seats"
        proc.release = release
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.join(10)


def test_seats_hold_across_processes_and_tenants_are_apart(tmp_path, other_process):
    path = str(tmp_path / "seats")
    other = other_process(path, "AK-ONE", 2)
    seats = UploadSeats(3, path)
    mine = seats.try_take("AK-ONE")
    assert mine is not None  # the third of three
    assert seats.try_take("AK-ONE") is None  # two in the other process, one in this
    assert seats.try_take("AK-TWO") is not None  # another tenant has seats of its own
    seats.give(mine)
    assert seats.try_take("AK-ONE") == mine  # a seat this process gave back is free again
    other.release.set()
    other.join(30)
    assert other.exitcode == 0
    assert seats.try_take("AK-ONE") is not None and seats.try_take("AK-ONE") is not None


def test_the_seats_of_a_process_that_dies_are_free_again(tmp_path, other_process):
    path = str(tmp_path / "seats")
    other = other_process(path, "AK-ONE", 3)
    seats = UploadSeats(3, path)
    assert seats.try_take("AK-ONE") is None
    os.kill(other.pid, signal.SIGKILL)  # no give(): the kernel drops its locks
    other.join(30)
    assert [seats.try_take("AK-ONE") is not None for _ in range(4)] == [True, True, True, False]


def test_threads_of_one_process_never_share_a_seat(tmp_path):
    seats = UploadSeats(4, str(tmp_path / "seats"))
    taken, lock = [], threading.Lock()

    def take():
        offset = seats.try_take("AK")
        with lock:
            taken.append(offset)

    threads = [threading.Thread(target=take) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [o for o in taken if o is not None]
    assert len(got) == 4 and len(set(got)) == 4


def test_a_wait_ends_with_a_seat_given_back_or_with_no_seat(tmp_path, other_process):
    path = str(tmp_path / "seats")
    seats = UploadSeats(1, path)
    first = seats.try_take("AK")
    threading.Timer(0.2, seats.give, [first]).start()
    started = time.monotonic()
    assert seats.wait("AK", 5) == first  # this process's give wakes the waiter
    assert time.monotonic() - started < 1
    seats.give(first)
    other = other_process(path, "AK", 1, size=1)  # holds the one seat
    started = time.monotonic()
    with pytest.raises(NoSeat, match="stayed taken for 0.3 s"):
        seats.wait("AK", 0.3)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(NoSeat):
        seats.wait("AK", 30, abandoned=lambda: True)  # the request is gone: no 30 s wait
    threading.Timer(0.2, other.release.set).start()
    assert seats.wait("AK", 10) == first  # another process's seat, found by polling once it is free
