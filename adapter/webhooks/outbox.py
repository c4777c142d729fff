"""The outbox: one delivery row per (alert, sink), claimed under a lease, retried on a schedule, then dead."""

from __future__ import annotations

import json

import sqlalchemy as sa

from adapter.webhooks.routes import Alert
from adapter.webhooks.store import Store, alerts, deliveries

MAX_RETRY_AFTER = 86400.0  # a Retry-After beyond a day is a misconfigured sink, not a plan


class Outbox:
    def __init__(self, store: Store, *, retry_schedule: list[float], max_attempts: int, lease: float, **_):
        self.store = store
        self.schedule = retry_schedule
        self.max_attempts = max_attempts
        self.lease = lease
        self._insert_alert = store.insert(alerts).on_conflict_do_nothing(
            index_elements=[alerts.c.alert_key]).returning(alerts.c.id)

    def enqueue(self, conn, found: list[Alert], now: float) -> int:
        """Stores alerts not stored before, each with a pending delivery per sink; returns how many were new."""
        new = 0
        for alert in found:
            alert_id = conn.execute(self._insert_alert, {
                "alert_key": alert.key, "kind": alert.kind, "route": alert.route, "status": alert.status,
                "execution_id": alert.execution_id, "event_id": alert.event_id, "title": alert.title,
                "text": alert.text, "data": json.dumps(alert.data), "created_at": now}).scalar()
            if alert_id is None:
                continue
            new += 1
            conn.execute(deliveries.insert(), [
                {"alert_id": alert_id, "sink": sink, "state": "pending", "attempts": 0, "next_attempt_at": now,
                 "created_at": now, "updated_at": now} for sink in dict.fromkeys(alert.sinks)])
        return new

    def claim(self, owner: str, now: float, limit: int) -> list[dict]:
        """Leases up to `limit` due rows to `owner`; SKIP LOCKED on PostgreSQL, the write lock on SQLite."""
        due = (sa.select(deliveries.c.id)
               .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= now,
                      sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now))
               .order_by(deliveries.c.next_attempt_at).limit(limit)
               .with_for_update(skip_locked=True))
        with self.store.write() as conn:
            ids = conn.execute(due).scalars().all()
            if not ids:
                return []
            conn.execute(deliveries.update().where(deliveries.c.id.in_(ids)).values(
                lease_owner=owner, lease_until=now + self.lease, attempts=deliveries.c.attempts + 1, updated_at=now))
            rows = conn.execute(
                sa.select(deliveries, alerts.c.alert_key, alerts.c.kind, alerts.c.route, alerts.c.status,
                          alerts.c.title, alerts.c.text, alerts.c.data, alerts.c.execution_id,
                          alerts.c.created_at.label("alert_created_at"))
                .join(alerts, alerts.c.id == deliveries.c.alert_id).where(deliveries.c.id.in_(ids))
                .order_by(deliveries.c.id))
            return [dict(row._mapping) for row in rows]

    def delivered(self, row: dict, owner: str, status: int, now: float) -> None:
        self._finish(row, owner, now, state="delivered", delivered_at=now, last_status=status, last_error=None)

    def failed(self, row: dict, owner: str, now: float, status: int | None, error: str,
               retry_after: float | None = None) -> str:
        """Schedules the next attempt, or marks the row dead when its attempts are used up."""
        if row["attempts"] >= self.max_attempts:
            state, next_at = "dead", row["next_attempt_at"]
        else:
            state, next_at = "pending", now + self.delay(row["attempts"], retry_after)
        self._finish(row, owner, now, state=state, next_attempt_at=next_at, last_status=status, last_error=error)
        return state

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        return self.schedule[min(attempts, len(self.schedule)) - 1]

    def _finish(self, row: dict, owner: str, now: float, **values) -> None:
        # Guarded by the owner: a row whose lease ran out and was claimed again is not ours to settle.
        with self.store.write() as conn:
            conn.execute(deliveries.update()
                         .where(deliveries.c.id == row["id"], deliveries.c.lease_owner == owner)
                         .values(lease_owner=None, lease_until=None, updated_at=now, **values))

    def replay(self, delivery_id: int, now: float) -> str:
        """Puts a dead or delivered row back in line: 'ok', 'missing', or 'busy' if it is still pending."""
        with self.store.write() as conn:
            done = conn.execute(deliveries.update()
                                .where(deliveries.c.id == delivery_id, deliveries.c.state.in_(["dead", "delivered"]))
                                .values(state="pending", attempts=0, next_attempt_at=now, lease_owner=None,
                                        lease_until=None, updated_at=now)).rowcount
            if done:
                return "ok"
            exists = conn.execute(sa.select(deliveries.c.id).where(deliveries.c.id == delivery_id)).first()
            return "busy" if exists else "missing"
