"""The worker's pool: calls run on at most `size` threads, their outcome reaches `done`, shutdown ends it."""

import threading

import pytest

from adapter.pool import Pool


def test_calls_run_on_at_most_size_threads_and_report_their_outcome():
    pool, finished, lock = Pool(3, name="pool-under-test"), [], threading.Lock()
    gate, running, peak = threading.Event(), [0], [0]

    def work(n):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(5)
        with lock:
            running[0] -= 1
        if n == 4:
            raise ValueError("four")
        return n * 10

    all_done = threading.Event()

    def done(call):
        with lock:
            finished.append(call)
            if len(finished) == 8:
                all_done.set()

    calls = [pool.submit(work, n, done=done) for n in range(8)]
    threading.Timer(0.3, gate.set).start()
    assert all_done.wait(5)
    assert peak[0] == 3 and sorted(map(id, finished)) == sorted(map(id, calls))
    assert [c.result() for c in calls if c.args != (4,)] == [n * 10 for n in range(8) if n != 4]
    with pytest.raises(ValueError, match="four"):
        calls[4].result()
    assert not any(c.cancelled() for c in calls)
    assert len([t for t in threading.enumerate() if t.name.startswith("pool-under-test-")]) <= 3
    pool.shutdown(wait=False)


def test_an_idle_thread_takes_the_next_call_and_shutdown_refuses_new_ones():
    pool, names = Pool(4), []
    for _ in range(5):  # one after another: the first thread serves them all
        finished = threading.Event()
        pool.submit(lambda: names.append(threading.current_thread().name), done=lambda call, f=finished: f.set())
        assert finished.wait(5)
    assert len(set(names)) == 1
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(print, done=print)
