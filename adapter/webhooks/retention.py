"""Retention: events, final summaries and settled deliveries past their age are deleted in small batches."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa

from adapter import metrics
from adapter.webhooks.store import (
    Store,
    alerts,
    claim_schedule,
    deliveries,
    events,
    executions,
    reschedule,
    tasks,
)

log = logging.getLogger(__name__)
PASS_BUDGET = 0.2  # seconds of deleting per pass (a pass a second): a backlog never takes more than a fifth of a core
BACKLOG_GAP = 1.0  # seconds between passes while a backlog lasts, across all replicas (one pass at a time)
SCHEDULE = "retention"  # its row in wh_schedules: which replica runs the next pass, and when
# PostgreSQL: a batch gives way rather than queue behind a lock the intake holds (a late event's execution, a
# re-sent event's key), and never runs long; the next pass takes it up again.
LOCK_TIMEOUT, STATEMENT_TIMEOUT = "50ms", "2s"
GAVE_WAY = {"55P03", "57014"}  # lock_not_available, query_canceled (the statement timeout)


class Retention:
    """Each batch is its own short transaction, so the intake's commits interleave with a large backlog's
    deletes, and after each one the pruner pauses as long as the batch took: a backlog gets at most half
    of the time it runs in. Batches are picked FOR UPDATE SKIP LOCKED on PostgreSQL, so replicas pruning
    at once share the work instead of waiting on each other, and a batch that would wait on a lock gives way."""

    def __init__(self, store: Store, *, events: float | None, summaries: float | None, deliveries: float | None,
                 batch: int = 500, interval: float = 60.0, clock=time.monotonic, sleep=time.sleep):
        self.store, self.batch, self.interval, self.clock, self.sleep = store, batch, interval, clock, sleep
        self.ages = {"events": events, "summaries": summaries, "deliveries": deliveries}
        self._due = 0.0

    def run(self, now: float, force: bool = False) -> dict[str, int]:
        """When due (or forced): batches until every table is done or the pass's budget of deleting time is
        spent; rows deleted per table."""
        if all(age is None for age in self.ages.values()):  # keeping everything: no pass to claim from others
            return {}
        if not force and (self.clock() < self._due or not claim_schedule(self.store, SCHEDULE, now, self.interval)):
            return {}
        started, spent, pruned, busy = self.clock(), 0.0, dict.fromkeys(self.ages, 0), True
        while busy and spent < PASS_BUDGET:
            busy = False
            for table, age in self.ages.items():
                if age is None:
                    continue
                began = self.clock()
                found = self.prune(table, now - age)
                took = self.clock() - began
                spent += took
                pruned[table] += found
                busy |= found >= self.batch
                if found:
                    self.sleep(took)
        self._due = started if busy else started + self.interval  # a backlog goes on at the next pass
        if busy and not force:  # the next pass: a second from now, on whichever replica claims it first
            reschedule(self.store, SCHEDULE, now + self.clock() - started + BACKLOG_GAP)
        for table, count in pruned.items():
            if count:
                metrics.PRUNED.labels(table=table).inc(count)
                log.info("retention: %d %s older than %.0f days deleted", count, table, self.ages[table] / 86400)
        return pruned

    def prune(self, table: str, cutoff: float) -> int:
        """One batch of `table` (events | summaries | deliveries) from before `cutoff`; how many went (0 when the
        batch gave way to a lock or ran out of time)."""
        try:
            with self.store.write() as conn:
                if self.store.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.set_config("lock_timeout", LOCK_TIMEOUT, True),
                                           sa.func.set_config("statement_timeout", STATEMENT_TIMEOUT, True)))
                return getattr(self, f"_{table}")(conn, cutoff)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in GAVE_WAY:
                raise
            log.info("retention: a batch of %s gave way (%s); the next pass takes it up", table,
                     type(exc.orig).__name__)
            return 0

    def _select(self, column, *where, order):
        return sa.select(column).where(*where).order_by(order).limit(self.batch).with_for_update(skip_locked=True)

    def _ids(self, conn, column, *where, order) -> list[int]:
        return conn.execute(self._select(column, *where, order=order)).scalars().all()

    def _events(self, conn, cutoff: float) -> int:
        # An open execution's events stay until it is final: its live summary may still be read with them.
        # NOT IN, not NOT EXISTS: the open ones are a hash built once per batch. With NOT EXISTS, PostgreSQL's
        # estimate of "a handful open" (its statistics lag a burst of executions) chose to scan all of them
        # for every candidate row: 54 ms a batch with 1,300 open, against 2 ms now.
        open_ids = sa.select(executions.c.execution_id).where(executions.c.state == "open")
        kept = sa.or_(events.c.execution_id.is_(None), events.c.execution_id.not_in(open_ids))
        picked = self._select(events.c.id, events.c.received_at < cutoff, kept, order=events.c.received_at)
        return conn.execute(events.delete().where(events.c.id.in_(picked))).rowcount

    def _summaries(self, conn, cutoff: float) -> int:
        ids = self._ids(conn, executions.c.execution_id, executions.c.state == "final",
                        executions.c.last_event_at < cutoff, order=executions.c.last_event_at)
        if not ids:
            return 0
        conn.execute(tasks.delete().where(tasks.c.execution_id.in_(ids)))
        return conn.execute(executions.delete().where(executions.c.execution_id.in_(ids))).rowcount

    def _deliveries(self, conn, cutoff: float) -> int:
        ids = self._ids(conn, deliveries.c.id, deliveries.c.state.in_(["delivered", "dead"]),
                        deliveries.c.updated_at < cutoff, order=deliveries.c.updated_at)
        if not ids:
            return 0
        alert_ids = conn.execute(sa.select(deliveries.c.alert_id).where(deliveries.c.id.in_(ids)).distinct()).scalars().all()
        count = conn.execute(deliveries.delete().where(deliveries.c.id.in_(ids))).rowcount
        # An alert goes with its last delivery (one alert may have gone to several sinks).
        orphan = ~sa.exists().where(deliveries.c.alert_id == alerts.c.id)
        conn.execute(alerts.delete().where(alerts.c.id.in_(alert_ids), orphan))
        return count
