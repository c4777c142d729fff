"""The bridge's parts assembled from the `webhooks:` config, and the intake transaction that ties them together."""

from __future__ import annotations

import hmac
import json
import os

import requests

from adapter.webhooks.dispatcher import Dispatcher
from adapter.webhooks.grouping import Grouper, task_context
from adapter.webhooks.model import Event
from adapter.webhooks.outbox import Outbox
from adapter.webhooks.routes import Router
from adapter.webhooks.sinks import build_sinks, env_value
from adapter.webhooks.store import Store, events


def read_tokens(names: list[str], key: str) -> list[bytes]:
    return [env_value(name, key).encode() for name in names]


def token_matches(presented: str, tokens: list[bytes], scheme: str = "Bearer ") -> bool:
    """Constant time against every token, whether sent bare (Harbor's auth_header as is) or as `Bearer <t>`."""
    raw = presented.encode("latin-1", "replace")  # header values arrive latin-1 decoded (WSGI)
    bare = raw[len(scheme):] if raw.startswith(scheme.encode()) else raw
    found = False
    for token in tokens:
        found |= hmac.compare_digest(raw, token) | hmac.compare_digest(bare, token)
    return found


def event_context(event: Event, event_id: int) -> dict:
    rep = event.replication
    return {"event_id": event_id, "event_type": event.event_type, "format": event.format,
            "operator": event.operator, "occur_at": event.occur_at, "status": event.status or "",
            "project": rep.project if rep else "", "policy": rep.description if rep else "",
            "execution_id": rep.execution_id if rep else None, "payload": json.loads(event.body)}


class Bridge:
    def __init__(self, conf: dict, api: dict | None = None, *, source=None, session: requests.Session | None = None):
        self.conf = conf
        self.tokens = read_tokens(conf["auth_tokens_env"], "webhooks.auth_tokens_env")
        self.api_tokens = read_tokens((api or {}).get("tokens_env", []), "api.tokens_env")
        password = os.environ.get(conf["store_password_env"]) if conf.get("store_password_env") else None
        self.store = Store(conf["store"], password=password)
        self.store.migrate()
        self.router = Router(conf["routes"])
        self.outbox = Outbox(self.store, **conf["outbox"])
        harbor = conf.get("harbor") or {}
        if harbor and source is None:
            from adapter.webhooks.harbor import make_source

            source = make_source(harbor)
        self.grouper = Grouper(self.store, self.router, self.outbox, quiet_period=conf["quiet_period"],
                               source=source, poll_interval=harbor.get("poll_interval", 15.0),
                               max_wait=harbor.get("max_wait", 1800.0), harbor_url=harbor.get("url"))
        self.session = session or requests.Session()
        self.sinks = build_sinks(conf["sinks"], self.session)
        out = conf["outbox"]
        self.dispatcher = Dispatcher(self.grouper, self.outbox, self.sinks, batch_size=out["batch_size"],
                                     poll_interval=out["poll_interval"])
        self._insert_event = self.store.insert(events).on_conflict_do_nothing(
            index_elements=[events.c.idem_key]).returning(events.c.id)
        self._per_task, self._per_event = self.router.wants("task"), self.router.wants("event")

    def record(self, event: Event, now: float) -> int | None:
        """Stores the event, its grouping and its immediate alerts in one transaction; None for a duplicate."""
        rep = event.replication
        with self.store.write() as conn:
            event_id = conn.execute(self._insert_event, {
                "idem_key": event.key, "received_at": now, "format": event.format, "event_type": event.event_type,
                "occur_at": event.occur_at, "operator": event.operator, "body": event.body,
                "execution_id": rep.execution_id if rep else None, "task_id": rep.task_id if rep else None,
                "job_status": rep.job_status if rep else None, "status": event.status,
                "project": rep.project if rep else None}).scalar()
            if event_id is None:
                return None
            if rep is not None:
                self.grouper.track(conn, event, now)
            found = self._immediate_alerts(event, event_id)
            if found:
                self.outbox.enqueue(conn, found, now)
        return event_id

    def _immediate_alerts(self, event: Event, event_id: int) -> list:
        found = []
        rep = event.replication
        if self._per_task and rep is not None:
            found += self.router.alerts("task", f"{rep.execution_id}:{rep.task_id}", task_context(event, event_id),
                                        execution_id=rep.execution_id, event_id=event_id)
        if self._per_event:
            found += self.router.alerts("event", str(event_id), event_context(event, event_id), event_id=event_id,
                                        execution_id=rep.execution_id if rep else None)
        return found

    def close(self) -> None:
        self.dispatcher.stop()
        self.session.close()
        self.store.close()
