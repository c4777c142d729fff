"""The API's keyset pages, its time and policy filters, the indexes behind them, and retention, on both stores."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from adapter import metrics
from adapter.webhooks import store as st
from adapter.webhooks.middleware import dispatch_once
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import api_get, post

DAY = 86400.0


def seed(app, executions=12, tasks=2, failed_every=3):
    """`executions` executions (ids 101...) of `tasks` tasks; every `failed_every`-th has a failed task;
    policies alternate between prod-sync and dev-sync. `client.posted`: how many events were sent."""
    client = app.test_client()
    client.posted = 0
    for n in range(executions):
        failed = {1} if n % failed_every == 0 else set()
        policy = "prod-sync" if n % 2 == 0 else "dev-sync"
        for doc in payloads.execution_stream(101 + n, tasks, failed=failed, description=policy, start=1714557600 + n * 10):
            assert post(client, doc).status_code == 200
            client.posted += 1
    return client


def walk(client, path: str, limit: int) -> list[dict]:
    """Every page of `path`, following `next`; each page but the last is full."""
    items, after, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        page = api_get(client, f"{path}{sep}limit={limit}" + (f"&after={after}" if after else "")).json
        items += page["items"]
        pages += 1
        after = page["next"]
        if after is None:
            return items
        assert len(page["items"]) == limit and pages < 1000


def test_executions_page_by_cursor_newest_first(make_app):
    app = make_app()
    client = seed(app)
    items = walk(client, "/executions", 5)
    assert len(items) == 12 and len({i["execution_id"] for i in items}) == 12
    stamps = [i["last_event_at"] for i in items]
    assert stamps == sorted(stamps, reverse=True)
    assert [i["execution_id"] for i in items] == [i["execution_id"] for i in api_get(client, "/executions?limit=50").json["items"]]
    assert api_get(client, "/executions?limit=12").json["next"] is None  # exactly one page: no empty page after it
    # offsets still work near the start
    assert api_get(client, "/executions?limit=5&offset=5").json["items"] == items[5:10]


def test_events_and_deliveries_page_by_cursor(make_app):
    app = make_app(routes=[{"per": "event", "sinks": ["ops-http"]}])
    client = seed(app, executions=6)
    events = walk(client, "/events", 7)
    assert len(events) == client.posted and [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    one = walk(client, "/events?execution_id=103", 1)
    assert len(one) == 4 and {e["execution_id"] for e in one} == {103}
    deliveries = walk(client, "/deliveries?state=pending", 5)
    assert len(deliveries) == client.posted and len({d["id"] for d in deliveries}) == client.posted


def test_executions_by_status_and_policy_in_a_time_range(make_app):
    app = make_app()
    client = seed(app)
    dispatch_once(app, time.time() + 61)  # all final: 101, 104, 107, 110 failed
    bridge = app.extensions["webhooks"]
    with bridge.store.write() as conn:  # spread last activity over twelve days of 2026
        for n in range(12):
            conn.execute(st.executions.update().where(st.executions.c.execution_id == 101 + n)
                         .values(last_event_at=1_767_225_600 + n * DAY))
    found = walk(client, "/executions?status=failed&policy=prod-sync", 1)
    assert [i["execution_id"] for i in found] == [107, 101]  # failed: n % 3 == 0; prod-sync: n even
    ranged = walk(client, "/executions?policy=dev-sync&since=2026-01-03T00:00:00Z&until=2026-01-09T00:00:00", 2)
    assert [i["execution_id"] for i in ranged] == [108, 106, 104]  # odd n, 2 <= n < 8
    bad = api_get(client, "/executions?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json["error"]["fields"]


def test_bad_cursors_and_deep_offsets_are_400s(make_app):
    app = make_app()
    client = seed(app, executions=3)
    cursor = api_get(client, "/executions?limit=1").json["next"]
    for path, field in ((f"/events?after={cursor}", "after"), ("/executions?after=%%%", "after"),
                        ("/executions?after=bm90IGpzb24", "after"), (f"/executions?after={cursor}&offset=2", "after"),
                        ("/deliveries?offset=10001", "offset")):
        bad = api_get(client, path)
        assert bad.status_code == 400 and bad.json["error"]["code"] == "INVALID_QUERY", path
        assert field in bad.json["error"]["fields"], (path, bad.json)
    assert "after=" in str(api_get(client, "/events?offset=20000").json["error"]["fields"]["offset"])


def test_each_list_reads_an_index_in_order(make_app, store_url):
    """No sort and no full scan behind any list, first page or deep: the plans, with scans made expensive."""
    app = make_app()
    seed(app, executions=3)
    bridge = app.extensions["webhooks"]
    from adapter.webhooks import queries

    lists = [(queries.list_executions, {}), (queries.list_executions, {"status": "failed", "policy": "p"}),
             (queries.list_executions, {"status": "failed", "policy": "p", "since": 1.0, "until": 2e9}),
             (queries.list_executions, {"policy": "p"}), (queries.list_executions, {"status": "failed"}),
             (queries.list_events, {"execution_id": 102}), (queries.list_events, {}),
             (queries.list_deliveries, {"state": "dead"})]
    captured = []

    class Spy:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, query, *args):
            captured.append(query)
            return self.conn.execute(query, *args)

    with bridge.store.read() as conn:
        for query, args in lists:
            for after in (None, (1e12, 10**12) if query is queries.list_executions else (10**12,)):
                query(Spy(conn), {"limit": 50, "offset": 0, "after": after, **args})
        if bridge.store.dialect == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_sort = off")
        for query in captured:
            compiled = query.compile(dialect=bridge.store.engine.dialect, compile_kwargs={"literal_binds": True})
            prefix = "EXPLAIN " if bridge.store.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + str(compiled)))
            assert "Sort" not in plan and "TEMP B-TREE" not in plan, (str(compiled), plan)
            # (SQLite's "SCAN t USING INDEX i" is an ordered index walk that stops at the LIMIT)
            assert "Seq Scan" not in plan, plan


def test_retention_prunes_in_batches_and_summaries_stay_complete(make_app):
    app = make_app(retention={"events": "90d", "summaries": "400d", "deliveries": "30d", "batch": 3})
    client = seed(app, executions=4)
    now = time.time()
    dispatch_once(app, now + 61)  # final; 101 failed: an alert with a (dead-ending) delivery
    bridge = app.extensions["webhooks"]
    before = api_get(client, "/executions/101").json
    assert before["events_pruned"] is False and before["summary"]["incomplete"] is False
    # one more execution stays open: its events are kept however old; an event of no execution goes
    for doc in payloads.execution_stream(200, 1):
        post(client, doc)
    assert post(client, payloads.push_artifact()).status_code == 200
    client.posted += 1
    with bridge.store.write() as conn:
        conn.execute(st.deliveries.update().values(state="dead", updated_at=now - 31 * DAY))
    counted = metrics.PRUNED.labels(table="events")._value.get()
    pruned = bridge.retention.run(now + 91 * DAY, force=True)
    assert pruned == {"events": client.posted, "summaries": 0, "deliveries": 2}
    assert metrics.PRUNED.labels(table="events")._value.get() == counted + client.posted
    after = api_get(client, "/executions/101").json
    assert after["events_pruned"] is True
    assert after["summary"] == before["summary"] and after["summary"]["incomplete"] is False
    assert after["tasks"] == before["tasks"]
    assert api_get(client, "/events?execution_id=101").json["items"] == []
    assert len(api_get(client, "/events?execution_id=200").json["items"]) == 2  # open: kept
    assert api_get(client, "/deliveries").json["items"] == []
    with bridge.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(st.alerts)).scalar_one() == 0
    # a year later the summaries go, tasks with them; the open one stays
    assert bridge.retention.run(now + 401 * DAY, force=True)["summaries"] == 4
    assert [i["execution_id"] for i in api_get(client, "/executions").json["items"]] == [200]
    with bridge.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(st.tasks)).scalar_one() == 1
    assert api_get(client, "/executions/101").status_code == 404


def test_retention_pauses_after_each_batch_as_long_as_it_took(make_app):
    app = make_app(retention={"events": "90d", "summaries": None, "deliveries": None, "batch": 5})
    client = seed(app, executions=4)
    dispatch_once(app, time.time() + 61)
    retention = app.extensions["webhooks"].retention
    ticks, pauses = iter(range(1000)), []
    retention.clock, retention.sleep = lambda: next(ticks) * 0.001, pauses.append  # every batch takes 1 ms
    assert retention.run(time.time() + 91 * DAY, force=True)["events"] == client.posted
    assert pauses == pytest.approx([0.001] * -(-client.posted // 5))  # one per batch that deleted something


def test_one_retention_pass_at_a_time_across_replicas(make_app, monkeypatch):
    """Replicas take turns through wh_schedules: a pass a second while a backlog lasts, on one of them."""
    from adapter.webhooks import retention as rt

    app = make_app()
    client = seed(app, executions=2)
    dispatch_once(app, time.time() + 61)
    store, now = app.extensions["webhooks"].store, time.time() + 91 * DAY
    one, other = (rt.Retention(store, events=90 * DAY, summaries=None, deliveries=None, batch=1, interval=3600,
                               sleep=lambda _: None) for _ in range(2))
    monkeypatch.setattr(rt, "PASS_BUDGET", 1e-9)  # one batch a pass: a backlog of posted - 1 rows remains
    assert one.run(now) == {"events": 1, "summaries": 0, "deliveries": 0}
    assert other.run(now) == {}  # claimed by the first
    assert other.run(now + rt.BACKLOG_GAP + 0.5) == {"events": 1, "summaries": 0, "deliveries": 0}
    monkeypatch.setattr(rt, "PASS_BUDGET", 60.0)
    assert one.run(now + 2 * rt.BACKLOG_GAP + 1)["events"] == client.posted - 2  # the rest: done, next in an hour
    assert other.run(now + 2 * rt.BACKLOG_GAP + 2) == {}
    assert other.run(now + 2 * rt.BACKLOG_GAP + 3602) == {"events": 0, "summaries": 0, "deliveries": 0}
    # A replica that keeps everything claims nothing: the pass stays with those that prune.
    keeper = rt.Retention(store, events=None, summaries=None, deliveries=None)
    assert keeper.run(now + 3 * 3600) == {}
    fresh = rt.Retention(store, events=90 * DAY, summaries=None, deliveries=None)  # a replica just started
    assert fresh.run(now + 3 * 3600) == {"events": 0, "summaries": 0, "deliveries": 0}


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)  # SQLite: one writer at a time, by design
def test_a_prune_batch_never_waits_on_locks_the_intake_holds(make_app):
    """Rows an intake transaction holds are skipped (SKIP LOCKED), or the batch gives way after lock_timeout
    and the next pass takes it up: never queued behind the intake for as long as its transaction lasts."""
    app = make_app(retention={"events": "90d", "summaries": "400d", "deliveries": None})
    client = seed(app, executions=2)  # 101, 102
    now = time.time()
    dispatch_once(app, now + 61)  # both final
    bridge = app.extensions["webhooks"]
    with bridge.store.engine.connect() as intake, intake.begin():
        # As a re-sent event (its key) and a late event of execution 102 (its task rows) would hold them.
        held = intake.execute(sa.select(st.events.c.id).where(st.events.c.execution_id == 101).limit(1)
                              .with_for_update()).scalar_one()
        intake.execute(sa.select(st.tasks.c.task_id).where(st.tasks.c.execution_id == 102).with_for_update()).all()
        started = time.monotonic()
        pruned = bridge.retention.run(now + 401 * DAY, force=True)
        assert time.monotonic() - started < 1.0
        assert pruned == {"events": client.posted - 1, "summaries": 0, "deliveries": 0}  # the summaries gave way
    assert bridge.retention.run(now + 401 * DAY, force=True) == {"events": 1, "summaries": 2, "deliveries": 0}
    with bridge.store.read() as conn:
        assert conn.execute(sa.select(st.events.c.id).where(st.events.c.id == held)).first() is None


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)  # SQLite's connections are files
def test_a_pooled_connection_that_died_while_idle_is_replaced(make_app, monkeypatch):
    """Checkouts skip the ping while a connection is in steady use; one idle for PING_AFTER_IDLE is pinged,
    and a dead one (a restarted server, a proxy's idle timeout) is replaced instead of failing a request."""
    store = make_app().extensions["webhooks"].store
    store.engine.dispose()
    count = sa.select(sa.func.count()).select_from(st.events)
    with store.read() as first, store.read() as second:
        victim = first.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert second.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": victim}).scalar_one()
    monkeypatch.setattr(st, "PING_AFTER_IDLE", 0.0)  # both have been idle long enough
    with store.read() as first, store.read() as second:
        pids = {c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() for c in (first, second)}
        assert victim not in pids and len(pids) == 2
        assert first.execute(count).scalar_one() == second.execute(count).scalar_one() == 0


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_reads_run_in_autocommit_and_leave_writes_transactional(make_app):
    store = make_app().extensions["webhooks"].store
    store.engine.dispose()  # one pooled connection: the write below reuses the read's
    with store.read() as conn:
        assert conn.connection.driver_connection.autocommit is True
        read_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with pytest.raises(RuntimeError), store.write() as conn:
        assert conn.connection.driver_connection.autocommit is False
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == read_pid
        conn.execute(st.schedules.insert().values(name="rolled-back", next_run_at=0.0))
        raise RuntimeError("undo")
    with store.read() as conn:
        assert conn.execute(sa.select(st.schedules.c.name)).all() == []


def test_retention_waits_for_its_interval_and_null_keeps_forever(make_app):
    app = make_app(retention={"events": None, "deliveries": None, "summaries": "1h", "interval": "1h"})
    seed(app, executions=2)
    bridge = app.extensions["webhooks"]
    dispatch_once(app, time.time() + 61)  # final; the pass's retention finds nothing old yet
    assert bridge.retention.run(time.time() + 400 * DAY, force=True) == {"events": 0, "summaries": 2, "deliveries": 0}
    assert bridge.retention.run(time.time() + 800 * DAY) == {}  # not due again for an hour


def test_an_older_store_gets_the_indexes_at_start_and_migrating_twice_is_harmless(make_app):
    app = make_app()
    bridge = app.extensions["webhooks"]
    with bridge.store.write() as conn:
        for index in st.SCALE_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {index.name}")
    assert bridge.store.migrate() == bridge.store.migrate()
    with bridge.store.read() as conn:
        inspector = sa.inspect(conn)
        names = {i["name"] for t in ("wh_events", "wh_executions", "wh_deliveries") for i in inspector.get_indexes(t)}
    assert {i.name for i in st.SCALE_INDEXES} <= names


@pytest.mark.parametrize("bad", [{"events": "10m"}, {"batch": 0}, {"summaries": "forever"}, {"nope": 1}])
def test_bad_retention_config_is_refused(bad, tmp_path):
    from adapter.webhooks.config import WebhooksSchema

    with pytest.raises(Exception) as err:
        WebhooksSchema().load({"auth_tokens_env": ["X"], "retention": bad})
    assert "retention" in str(err.value)
