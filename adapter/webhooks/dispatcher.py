"""The dispatcher: one background thread per process that finalises due executions, runs the executions
watcher when due, and delivers the outbox."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
import weakref

from adapter import metrics
from adapter.webhooks.sinks import Outcome

log = logging.getLogger(__name__)


def alert_from_row(row: dict) -> dict:
    return {"delivery_id": row["id"], "alert_key": row["alert_key"], "kind": row["kind"], "route": row["route"],
            "status": row["status"], "title": row["title"], "text": row["text"], "data": json.loads(row["data"]),
            "created_at": row["alert_created_at"], "attempt": row["attempts"]}


class Dispatcher:
    def __init__(self, grouper, outbox, sinks: dict, *, batch_size: int = 20, poll_interval: float = 1.0,
                 clock=time.time, watcher=None, retention=None):
        self.grouper, self.outbox, self.sinks = grouper, outbox, sinks
        self.watcher, self.retention = watcher, retention
        self.batch_size, self.poll_interval, self.clock = batch_size, poll_interval, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.owner = self._new_owner()
        ref = weakref.ref(self)  # at-fork hooks live forever; they must not keep old dispatchers alive
        os.register_at_fork(after_in_child=lambda: ref() and ref()._after_fork())

    @staticmethod
    def _new_owner() -> str:
        return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run_once(self, now: float | None = None) -> dict:
        """One pass: finalise what is due, deliver one batch of due rows, prune when due. Returns counts."""
        now = self.clock() if now is None else now
        counts = {"finalized": self.grouper.finalize_due(now), "delivered": 0, "retry": 0, "dead": 0}
        if self.watcher is not None:
            counts["watched"] = self.watcher.run_due(now)
        if self.retention is not None:
            counts["pruned"] = sum(self.retention.run(now).values())
        for row in self.outbox.claim(self.owner, now, self.batch_size):
            outcome = self._deliver(row, now)
            counts[outcome] += 1
            metrics.DELIVERIES.labels(sink=row["sink"], outcome=outcome).inc()
        return counts

    def _deliver(self, row: dict, now: float) -> str:
        sink = self.sinks.get(row["sink"])
        try:
            outcome = sink.deliver(alert_from_row(row)) if sink else Outcome(False, None, "sink not configured")
        except Exception as exc:  # a broken sink must not stop the others
            log.exception("sink %s failed to build delivery %s", row["sink"], row["id"])
            outcome = Outcome(False, None, type(exc).__name__)
        if outcome.ok:
            self.outbox.delivered(row, self.owner, outcome.status, now)
            log.info("delivery %s (%s to %s) delivered", row["id"], row["alert_key"], row["sink"])
            return "delivered"
        state = self.outbox.failed(row, self.owner, now, outcome.status, outcome.error, outcome.retry_after)
        log.warning("delivery %s (%s to %s) attempt %d failed: %s%s", row["id"], row["alert_key"], row["sink"],
                    row["attempts"], outcome.error, "; dead" if state == "dead" else "")
        return "retry" if state == "pending" else "dead"

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="webhooks-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self._thread = None

    def _after_fork(self) -> None:
        # Threads do not survive fork: a preloading parent's dispatcher lives on in each child as a new one.
        self.owner = self._new_owner()
        if self._thread is not None:
            self._thread = None
            self.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = self.run_once()
            except Exception:  # a store outage must not end the thread; the next pass retries
                log.exception("dispatcher pass failed")
                counts = {}
            busy = counts.get("delivered", 0) + counts.get("retry", 0) + counts.get("dead", 0) >= self.batch_size
            if not busy:
                self._stop.wait(self.poll_interval)
