"""The store's behaviour on SQLite and PostgreSQL alike: migration, dedup, grouping races, leases, replay."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from adapter.webhooks.middleware import dispatch_once
from adapter.webhooks.outbox import Outbox
from adapter.webhooks.routes import Alert
from adapter.webhooks.store import SCHEMA_VERSION, Store, alerts, events, executions, schema_version, tasks
from tests.integration.webhooks.conftest import PG_PASSWORD_ENV
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import post

ALL = [{"match": {"status": ["failed", "succeeded", "stopped"]}, "sinks": ["ops-http"]}]


def open_store(store_conf) -> Store:
    import os

    password = os.environ[PG_PASSWORD_ENV] if "store_password_env" in store_conf else None
    return Store(store_conf["store"], password=password)


def scalar(store, query):
    with store.read() as conn:
        return conn.execute(query).scalar_one()


def test_migration_creates_once_even_when_replicas_start_together(store_conf):
    stores = [open_store(store_conf) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(lambda s: s.migrate(), stores)) == [SCHEMA_VERSION] * 4
        assert stores[0].migrate() == SCHEMA_VERSION
        assert scalar(stores[0], sa.select(sa.func.count()).select_from(schema_version)) == 1
        assert set(sa.inspect(stores[0].engine).get_table_names()) >= {
            "wh_events", "wh_executions", "wh_tasks", "wh_alerts", "wh_deliveries", "wh_schema"}
    finally:
        for store in stores:
            store.close()


def test_intake_dedups_and_groups(make_app):
    app = make_app(routes=ALL)
    client, bridge = app.test_client(), app.extensions["webhooks"]
    stream = payloads.execution_stream(61, 3, failed={3})
    for doc in stream + stream[:2]:
        assert post(client, doc).status_code == 200
    assert scalar(bridge.store, sa.select(sa.func.count()).select_from(events)) == 10  # task 3 ran three times
    assert scalar(bridge.store, sa.select(executions.c.events)) == 10
    dispatch_once(app, time.time() + 61)
    assert scalar(bridge.store, sa.select(executions.c.status)) == "failed"
    assert scalar(bridge.store, sa.select(alerts.c.alert_key)) == "execution:61:1:route1"


def test_concurrent_events_of_one_execution_all_count(make_app):
    app = make_app()
    bridge = app.extensions["webhooks"]
    stream = payloads.execution_stream(62, 40, failed={5, 17})

    def send(doc):
        return post(app.test_client(), doc).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(send, stream + stream[::3])) == {200}
    assert scalar(bridge.store, sa.select(executions.c.events)) == 88  # 40 tasks, two with three attempts
    with bridge.store.read() as conn:
        statuses = dict(conn.execute(sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)).all())
    assert statuses == {"succeeded": 38, "failed": 2}


def test_two_dispatchers_finalise_an_execution_once(make_app):
    apps = [make_app(routes=ALL), make_app(routes=ALL)]
    for doc in payloads.execution_stream(63, 5):
        assert post(apps[0].test_client(), doc).status_code == 200
    later = time.time() + 61
    barrier = threading.Barrier(2)

    def finalise(app):
        barrier.wait()
        return dispatch_once(app, later)["finalized"]

    with ThreadPoolExecutor(2) as pool:
        assert sum(pool.map(finalise, apps)) == 1
    assert scalar(apps[0].extensions["webhooks"].store, sa.select(sa.func.count()).select_from(alerts)) == 1


def test_leases_never_hand_one_row_to_two_workers(store_conf):
    store = open_store(store_conf)
    store.migrate()
    outbox = Outbox(store, retry_schedule=[60.0], max_attempts=3, lease=300.0)
    now = time.time()
    with store.write() as conn:
        outbox.enqueue(conn, [Alert(f"execution:{i}:1:r", "execution", "r", "failed", "t", "x", {}, ("a", "b"))
                              for i in range(100)], now)
    claimed: list[int] = []
    lock = threading.Lock()
    sql: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: sql.append(args[2]))

    def worker(n):
        while rows := outbox.claim(f"w{n}", now, 7):
            with lock:
                claimed.extend(r["id"] for r in rows)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    store.close()
    assert len(claimed) == 200 and len(set(claimed)) == 200
    if store.dialect == "postgresql":
        assert any("FOR UPDATE SKIP LOCKED" in statement for statement in sql)


def test_replay_on_both_backends(make_app):
    app = make_app(outbox={"autostart": False, "retry_schedule": ["1s"], "max_attempts": 1})
    for doc in payloads.execution_stream(64, 1, failed={1}):
        post(app.test_client(), doc)
    dispatch_once(app, time.time() + 61)
    outbox = app.extensions["webhooks"].outbox
    with outbox.store.read() as conn:
        (delivery_id, state) = conn.execute(sa.text("SELECT id, state FROM wh_deliveries")).one()
    assert state == "dead"
    assert outbox.replay(delivery_id, time.time()) == "ok"
    assert outbox.replay(delivery_id, time.time()) == "busy"


def test_one_batch_of_many_events_groups_like_single_ones(make_app):
    from adapter.webhooks.schemas import load_event

    app = make_app(routes=[{"per": "task", "sinks": ["ops-http"]}])
    bridge = app.extensions["webhooks"]
    stream = payloads.execution_stream(65, 4, failed={2}) + payloads.execution_stream(66, 2)
    batch = [(load_event(payloads.body(doc)), time.time()) for doc in stream + stream[:1]]
    ids = bridge.intake.record_many(batch)
    assert len([i for i in ids if i is not None]) == len(stream) and ids[-1] is None
    with bridge.store.read() as conn:
        counts = dict(conn.execute(sa.select(executions.c.execution_id, executions.c.events)).all())
        statuses = dict(conn.execute(sa.select(tasks.c.task_id, tasks.c.status)).all())
        keys = conn.execute(sa.select(alerts.c.alert_key)).scalars().all()
    assert counts == {65: 12, 66: 4}
    assert statuses == {65001: "succeeded", 65002: "failed", 65003: "succeeded", 65004: "succeeded",
                        66001: "succeeded", 66002: "succeeded"}
    assert keys == ["task:65:65002:route1"]
