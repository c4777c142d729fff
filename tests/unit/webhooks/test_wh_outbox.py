"""The outbox on SQLite: backoff on a schedule, Retry-After, dead after N attempts, replay, leases."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from adapter.webhooks.dispatcher import Dispatcher
from adapter.webhooks.outbox import Outbox
from adapter.webhooks.routes import Alert
from adapter.webhooks.sinks import Outcome
from adapter.webhooks.store import Store, deliveries

T0 = 1_800_000_000.0


class NoGrouping:
    def finalize_due(self, now):
        return 0


class ScriptedSink:
    def __init__(self, *outcomes):
        self.outcomes, self.seen = list(outcomes), []

    def deliver(self, alert):
        self.seen.append(alert)
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


@pytest.fixture
def outbox(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/o.db")
    store.migrate()
    box = Outbox(store, retry_schedule=[10.0, 60.0, 300.0], max_attempts=4, lease=30.0)
    yield box
    store.close()


def enqueue(outbox, key="execution:1:1:r", sinks=("a",), now=T0):
    with outbox.store.write() as conn:
        return outbox.enqueue(conn, [Alert(key, "execution", "r", "failed", "t", "x", {"execution_id": 1},
                                           sinks, execution_id=1)], now)


def state(outbox):
    with outbox.store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(deliveries).order_by(deliveries.c.id))]


def dispatcher(outbox, sink):
    return Dispatcher(NoGrouping(), outbox, {"a": sink}, batch_size=10)


def test_one_row_per_alert_and_sink_and_no_second_copy(outbox):
    assert enqueue(outbox, sinks=("a", "b", "a")) == 1
    assert enqueue(outbox, sinks=("a", "b")) == 0
    assert [(r["sink"], r["state"], r["attempts"]) for r in state(outbox)] == [("a", "pending", 0), ("b", "pending", 0)]


def test_backoff_follows_the_schedule_then_the_row_is_dead(outbox):
    enqueue(outbox)
    sink = ScriptedSink(Outcome(False, 502, "HTTP 502"))
    d = dispatcher(outbox, sink)
    now, waits = T0, []
    for _ in range(4):
        assert d.run_once(now)["retry" if len(waits) < 3 else "dead"] == 1
        row = state(outbox)[0]
        waits.append(row["next_attempt_at"] - now)
        assert d.run_once(now + waits[-1] - 1)["retry"] == 0  # not due before its time
        now += waits[-1]
    assert waits[:3] == [10.0, 60.0, 300.0]
    row = state(outbox)[0]
    assert row["state"] == "dead" and row["attempts"] == 4 and row["last_status"] == 502
    assert d.run_once(now + 10_000) == {"finalized": 0, "delivered": 0, "retry": 0, "dead": 0}


def test_a_429_retry_after_sets_the_next_attempt(outbox):
    enqueue(outbox)
    d = dispatcher(outbox, ScriptedSink(Outcome(False, 429, "HTTP 429", retry_after=240.0), Outcome(True, 200)))
    d.run_once(T0)
    assert state(outbox)[0]["next_attempt_at"] == T0 + 240.0
    assert d.run_once(T0 + 239)["delivered"] == 0
    assert d.run_once(T0 + 240)["delivered"] == 1
    assert state(outbox)[0]["state"] == "delivered"


def test_replay_puts_a_dead_row_back_with_fresh_attempts(outbox):
    enqueue(outbox)
    d = dispatcher(outbox, ScriptedSink(Outcome(False, 500, "HTTP 500")))
    for i in range(4):
        d.run_once(T0 + i * 1000)
    assert state(outbox)[0]["state"] == "dead"
    assert outbox.replay(state(outbox)[0]["id"], T0 + 5000) == "ok"
    assert outbox.replay(state(outbox)[0]["id"], T0 + 5000) == "busy"
    assert outbox.replay(999, T0) == "missing"
    row = state(outbox)[0]
    assert (row["state"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, T0 + 5000)
    d.sinks["a"] = ScriptedSink(Outcome(True, 204))
    assert d.run_once(T0 + 5000)["delivered"] == 1


def test_a_leased_row_is_not_claimed_twice_until_its_lease_runs_out(outbox):
    enqueue(outbox)
    first = outbox.claim("w1", T0, 10)
    assert [r["attempts"] for r in first] == [1]
    assert outbox.claim("w2", T0 + 29, 10) == []
    # w1 died without settling: after the lease the row is claimable again, the attempt counted.
    (again,) = outbox.claim("w2", T0 + 31, 10)
    assert again["attempts"] == 2
    # The late w1 cannot settle a row w2 now holds.
    outbox.delivered(first[0], "w1", 200, T0 + 32)
    assert state(outbox)[0]["state"] == "pending" and state(outbox)[0]["lease_owner"] == "w2"
    outbox.delivered(again, "w2", 200, T0 + 33)
    assert state(outbox)[0]["state"] == "delivered"


def test_a_sink_that_raises_is_a_failed_attempt_not_a_dead_dispatcher(outbox):
    enqueue(outbox)

    class Broken:
        def deliver(self, alert):
            raise KeyError("title")

    assert dispatcher(outbox, Broken()).run_once(T0)["retry"] == 1
    assert state(outbox)[0]["last_error"] == "KeyError"


def test_a_removed_sink_fails_its_rows_instead_of_crashing(outbox):
    enqueue(outbox, sinks=("gone",))
    assert dispatcher(outbox, ScriptedSink(Outcome(True, 200))).run_once(T0)["retry"] == 1
    assert state(outbox)[0]["last_error"] == "sink not configured"


def test_the_background_thread_delivers_without_being_asked(outbox):
    enqueue(outbox, now=time.time())
    sink = ScriptedSink(Outcome(True, 200))
    d = Dispatcher(NoGrouping(), outbox, {"a": sink}, poll_interval=0.05)
    d.start()
    try:
        for _ in range(100):
            if state(outbox)[0]["state"] == "delivered":
                break
            time.sleep(0.05)
    finally:
        d.stop()
    assert state(outbox)[0]["state"] == "delivered" and len(sink.seen) == 1
