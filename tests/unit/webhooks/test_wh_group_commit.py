"""Group commit and the SQLite writer lock: batches form under load, failures stay with their own request."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapter.webhooks.intake import GroupCommit
from adapter.webhooks.schemas import load_event
from adapter.webhooks.store import _WriterLock
from tests.unit.webhooks import payloads


def test_concurrent_requests_share_a_batch_and_get_their_own_answers():
    gate, batches = threading.Event(), []

    def work(items):
        gate.wait(5)  # the first batch holds the line while the others queue up
        batches.append(list(items))
        return [item * 10 for item in items]

    group = GroupCommit(work)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(group.submit, n) for n in range(8)]
        time.sleep(0.2)
        gate.set()
        assert [f.result(5) for f in futures] == [n * 10 for n in range(8)]
    assert sorted(sum(batches, [])) == list(range(8)) and len(batches) < 8


def test_a_failing_item_fails_alone():
    def work(items):
        if 3 in items:
            raise RuntimeError("constraint")
        return items

    group = GroupCommit(work)
    with ThreadPoolExecutor(6) as pool:
        futures = {n: pool.submit(group.submit, n) for n in range(6)}
        for n, future in futures.items():
            if n == 3:
                with pytest.raises(RuntimeError):
                    future.result(5)
            else:
                assert future.result(5) == n


def test_one_key_twice_in_a_batch_is_stored_once(bridge):
    event = load_event(payloads.body(payloads.default("Error")))
    other = load_event(payloads.body(payloads.default("Success", task_id=99)))
    now = time.time()
    first, second, third = bridge.intake.record_many([(event, now), (event, now), (other, now)])
    assert first is not None and second is None and third not in (None, first)


def test_the_writer_lock_excludes_across_threads(tmp_path):
    lock, order = _WriterLock(str(tmp_path / "w.lock")), []

    def hold(name, pause):
        with lock.hold():
            order.append(f"{name}+")
            time.sleep(pause)
            order.append(f"{name}-")

    first = threading.Thread(target=hold, args=("a", 0.3))
    first.start()
    time.sleep(0.05)
    hold("b", 0)
    first.join()
    assert order == ["a+", "a-", "b+", "b-"]
