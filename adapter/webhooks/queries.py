"""Read-side queries behind the /api/v1 views: executions, events and deliveries as plain dicts."""

from __future__ import annotations

import base64
import json

import sqlalchemy as sa

from adapter.webhooks.grouping import shown_id, task_done
from adapter.webhooks.store import alerts, deliveries, events, executions, tasks
from harbor_client.units import isotime


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else isotime(epoch, millis=True)


class Page(list):
    """A page of items plus the cursor of the next one (None: this was the last page)."""

    next: str | None = None


def encode_cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, kinds: tuple[type, ...]) -> tuple:
    """The sort key values in an `after` cursor; ValueError when it is not one of this list's cursors."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise ValueError("not a cursor from this API's `next`") from None
    if not isinstance(values, list) or len(values) != len(kinds) or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v, kind in zip(values, kinds, strict=False)):
        raise ValueError("not a cursor of this list")
    return tuple(values)


def _keyset(conn, query, keys: list, args: dict, item) -> Page:
    """A page newest first by `keys` (unique together): after the cursor's key when given (one index range
    scan however deep), else at the offset (cheap near the start only, so the API caps it)."""
    query = query.order_by(*(key.desc() for key in keys))
    if args.get("after") is not None:
        query = query.where(sa.tuple_(*keys) < sa.tuple_(*args["after"]))
    elif args.get("offset"):
        query = query.offset(args["offset"])
    rows = conn.execute(query.limit(args["limit"] + 1)).all()
    page = Page(item(row) for row in rows[:args["limit"]])
    if len(rows) > args["limit"]:
        last = rows[args["limit"] - 1]._mapping
        page.next = encode_cursor(last[key.name] for key in keys)
    return page


def version(row) -> int:
    """Grows with every event and when the execution turns final: what a long poll's `since` compares."""
    return row.events * 2 + (row.state == "final")


def settled(row) -> bool:
    """Final with every task's outcome known: a summary finalised over silent tasks is not a verdict yet."""
    return row.state == "final" and not json.loads(row.summary or "{}").get("incomplete", False)


def execution_change(conn, execution_id: int) -> tuple[int, bool] | None:
    """(version, settled) of an execution, or None while the bridge has not heard of it."""
    row = conn.execute(_by_id(sa.select(executions.c.events, executions.c.state, executions.c.summary),
                              execution_id)).first()
    return None if row is None else (version(row), settled(row))


def _by_id(query, execution_id: int):
    # By the bridge's key, or by Harbor's id once a group of id-less events was resolved to it.
    return (query.where(sa.or_(executions.c.execution_id == execution_id, executions.c.harbor_id == execution_id))
            .order_by(executions.c.execution_id.desc()).limit(1))


def execution_item(row) -> dict:
    # key: the bridge's own (Harbor's id, or < 0 for a group of id-less events); execution_id: Harbor's or
    # "unresolved".
    return {"execution_id": shown_id(row.harbor_id), "key": row.execution_id, "policy": row.policy, "project": row.project, "trigger": row.trigger,
            "state": row.state, "status": row.status, "revision": row.revision, "events": row.events,
            "version": version(row),
            "first_event_at": _iso(row.first_event_at), "last_event_at": _iso(row.last_event_at),
            "finalized_at": _iso(row.finalized_at)}


EXECUTION_KEYS = (float, int)  # the cursor of /executions: (last_event_at, execution_id)


def list_executions(conn, args: dict) -> Page:
    query = sa.select(executions)
    for key in ("state", "status", "policy"):
        if args.get(key):
            query = query.where(executions.c[key] == args[key])
    if args.get("since") is not None:
        query = query.where(executions.c.last_event_at >= args["since"])
    if args.get("until") is not None:
        query = query.where(executions.c.last_event_at < args["until"])
    return _keyset(conn, query, [executions.c.last_event_at, executions.c.execution_id], args, execution_item)


def get_execution(conn, execution_id: int, grouper) -> dict | None:
    """The execution, its summary (live while open) and its task rows."""
    row = conn.execute(_by_id(sa.select(executions), execution_id)).first()
    if row is None:
        return None
    summary = json.loads(row.summary) if row.state == "final" else grouper.summary(conn, row)
    found = conn.execute(sa.select(tasks).where(tasks.c.execution_id == row.execution_id).order_by(tasks.c.task_id))
    task_items = [{"task_id": t.task_id if row.execution_id > 0 else None, "status": t.status,
                   "job_status": t.job_status, "repository": t.repository, "name_tag": t.name_tag,
                   "references": json.loads(t.refs or "[]"), "reference_count": t.ref_count or 0,
                   "failures": t.failures, "done": task_done(t), "occur_at": t.occur_at} for t in found]
    # Retention removes events before summaries: the summary (and its tasks) stays as it was, complete;
    # this only says the raw events behind it are gone.
    stored = conn.execute(sa.select(sa.func.count()).where(events.c.execution_id == row.execution_id)).scalar_one()
    return {**execution_item(row), "settled": settled(row), "summary": summary, "tasks": task_items,
            "events_pruned": stored < row.events}


def event_item(row) -> dict:
    # events.execution_id holds the execution's key; Harbor's id is the key itself from 2.13 on, else resolved.
    harbor_id = row.execution_id if row.execution_id is None or row.execution_id > 0 else row.harbor_id
    return {"id": row.id, "key": row.idem_key, "received_at": _iso(row.received_at), "format": row.format,
            "event_type": row.event_type, "occur_at": row.occur_at, "operator": row.operator,
            "execution_id": None if row.execution_id is None else shown_id(harbor_id),
            "execution_key": row.execution_id, "task_id": row.task_id, "job_status": row.job_status,
            "status": row.status, "project": row.project}


EVENT_KEYS = DELIVERY_KEYS = (int,)  # the cursor of /events and /deliveries: (id,)


def _events(*columns):
    joined = events.outerjoin(executions, executions.c.execution_id == events.c.execution_id)
    return sa.select(*columns, executions.c.harbor_id).select_from(joined)


def list_events(conn, args: dict) -> Page:
    query = _events(*[c for c in events.c if c.name != "body"])
    for key in ("status", "event_type"):
        if args.get(key) is not None:
            query = query.where(events.c[key] == args[key])
    if args.get("execution_id") is not None:  # the key, or Harbor's id once resolved
        query = query.where(events.c.execution_id.in_(_keys(conn, args["execution_id"])))
    return _keyset(conn, query, [events.c.id], args, event_item)


def _keys(conn, execution_id: int) -> list[int]:
    """The execution keys behind an id: itself, and the id-less groups resolved to it (looked up first, so that
    the events are read by their index on (execution_id, id) and not through a join)."""
    found = conn.execute(sa.select(executions.c.execution_id).where(executions.c.harbor_id == execution_id))
    return sorted({execution_id, *found.scalars()})


def get_event(conn, event_id: int) -> dict | None:
    row = conn.execute(_events(*events.c).where(events.c.id == event_id)).first()
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


def list_deliveries(conn, args: dict) -> Page:
    query = _delivery_query()
    for key in ("state", "sink"):
        if args.get(key):
            query = query.where(deliveries.c[key] == args[key])
    return _keyset(conn, query, [deliveries.c.id], args, delivery_item)


def get_delivery(conn, delivery_id: int) -> dict | None:
    row = conn.execute(_delivery_query().where(deliveries.c.id == delivery_id)).first()
    return None if row is None else delivery_item(row)
