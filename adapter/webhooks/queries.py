"""Read-side queries behind the /api/v1 views: executions, events and deliveries as plain dicts."""

from __future__ import annotations

import json

import sqlalchemy as sa

from adapter.webhooks.store import alerts, deliveries, events, executions, tasks
from harbor_client.units import isotime


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else isotime(epoch, millis=True)


def _page(query, args: dict):
    return query.limit(args["limit"]).offset(args["offset"])


def execution_item(row) -> dict:
    return {"execution_id": row.execution_id, "policy": row.policy, "project": row.project, "trigger": row.trigger,
            "state": row.state, "status": row.status, "revision": row.revision, "events": row.events,
            "first_event_at": _iso(row.first_event_at), "last_event_at": _iso(row.last_event_at),
            "finalized_at": _iso(row.finalized_at)}


def list_executions(conn, args: dict) -> list[dict]:
    query = sa.select(executions).order_by(executions.c.last_event_at.desc())
    for key in ("state", "status"):
        if args.get(key):
            query = query.where(executions.c[key] == args[key])
    return [execution_item(row) for row in conn.execute(_page(query, args))]


def get_execution(conn, execution_id: int, grouper) -> dict | None:
    """The execution, its summary (live while open) and its task rows."""
    row = conn.execute(sa.select(executions).where(executions.c.execution_id == execution_id)).first()
    if row is None:
        return None
    summary = json.loads(row.summary) if row.state == "final" else grouper.summary(conn, row)
    found = conn.execute(sa.select(tasks).where(tasks.c.execution_id == execution_id).order_by(tasks.c.task_id))
    task_items = [{"task_id": t.task_id, "status": t.status, "job_status": t.job_status,
                   "repository": t.repository, "name_tag": t.name_tag, "references": json.loads(t.refs or "[]"),
                   "failures": t.failures, "occur_at": t.occur_at} for t in found]
    return {**execution_item(row), "summary": summary, "tasks": task_items}


def event_item(row) -> dict:
    return {"id": row.id, "key": row.idem_key, "received_at": _iso(row.received_at), "format": row.format,
            "event_type": row.event_type, "occur_at": row.occur_at, "operator": row.operator,
            "execution_id": row.execution_id, "task_id": row.task_id, "job_status": row.job_status,
            "status": row.status, "project": row.project}


def list_events(conn, args: dict) -> list[dict]:
    query = sa.select(*[c for c in events.c if c.name != "body"]).order_by(events.c.id.desc())
    for key in ("status", "execution_id", "event_type"):
        if args.get(key) is not None:
            query = query.where(events.c[key] == args[key])
    return [event_item(row) for row in conn.execute(_page(query, args))]


def get_event(conn, event_id: int) -> dict | None:
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
    return None if row is None else {**event_item(row), "payload": json.loads(row.body)}


def _delivery_query():
    return (sa.select(deliveries, alerts.c.alert_key, alerts.c.kind, alerts.c.title, alerts.c.execution_id)
            .join(alerts, alerts.c.id == deliveries.c.alert_id))


def delivery_item(row) -> dict:
    return {"id": row.id, "alert": row.alert_key, "kind": row.kind, "title": row.title,
            "execution_id": row.execution_id, "sink": row.sink, "state": row.state, "attempts": row.attempts,
            "next_attempt_at": _iso(row.next_attempt_at) if row.state == "pending" else None,
            "last_status": row.last_status, "last_error": row.last_error, "created_at": _iso(row.created_at),
            "delivered_at": _iso(row.delivered_at)}


def list_deliveries(conn, args: dict) -> list[dict]:
    query = _delivery_query().order_by(deliveries.c.id.desc())
    for key in ("state", "sink"):
        if args.get(key):
            query = query.where(deliveries.c[key] == args[key])
    return [delivery_item(row) for row in conn.execute(_page(query, args))]


def get_delivery(conn, delivery_id: int) -> dict | None:
    row = conn.execute(_delivery_query().where(deliveries.c.id == delivery_id)).first()
    return None if row is None else delivery_item(row)
