"""The bridge's parts, assembled once from the `webhooks:` config; the intake view and the API reach them here."""

from __future__ import annotations

import hmac
import os

import requests

from adapter.webhooks.dispatcher import Dispatcher
from adapter.webhooks.grouping import Grouper
from adapter.webhooks.intake import Intake
from adapter.webhooks.model import Event
from adapter.webhooks.outbox import Outbox
from adapter.webhooks.retention import Retention
from adapter.webhooks.routes import Router
from adapter.webhooks.sinks import build_sinks, env_value
from adapter.webhooks.store import Store
from adapter.webhooks.waiters import Waiters
from adapter.webhooks.watch import Watcher


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
        watch = harbor.get("watch")
        self.watcher = Watcher(self.store, source, self.router, self.outbox, quiet_period=conf["quiet_period"],
                               harbor_url=harbor.get("url"), **watch) if watch else None
        self.session = session or requests.Session()
        self.sinks = build_sinks(conf["sinks"], self.session)
        out = conf["outbox"]
        self.retention = Retention(self.store, **conf["retention"])
        self.dispatcher = Dispatcher(self.grouper, self.outbox, self.sinks, batch_size=out["batch_size"],
                                     poll_interval=out["poll_interval"], watcher=self.watcher,
                                     retention=self.retention)
        self.intake = Intake(self.store, self.grouper, self.router, self.outbox)
        self.waiters = Waiters(self.store, (api or {}).get("max_waiters", 8))

    def record(self, event: Event, now: float) -> int | None:
        """Stores the event, its grouping and its immediate alerts durably; None for a duplicate."""
        return self.intake.record(event, now)

    def close(self) -> None:
        self.dispatcher.stop()
        self.session.close()
        self.store.close()
