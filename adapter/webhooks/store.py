"""The webhook store: SQLAlchemy Core tables over SQLite (WAL, the default) or PostgreSQL, migrated at start."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

log = logging.getLogger(__name__)
metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only
SCHEMA_VERSION = 2
_PG_MIGRATION_LOCK = 0x5357_5242  # any constant; serialises replicas migrating at once

events = sa.Table(
    "wh_events", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("idem_key", sa.String(200), nullable=False, unique=True),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("event_type", sa.String(128), nullable=False),
    sa.Column("occur_at", sa.BigInteger, nullable=False),
    sa.Column("operator", sa.Text, nullable=False),
    sa.Column("execution_id", sa.BigInteger),
    sa.Column("task_id", sa.BigInteger),
    sa.Column("job_status", sa.String(16)),
    sa.Column("status", sa.String(16)),
    sa.Column("project", sa.Text),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Index("wh_events_status", "status", "id"),
    sa.Index("wh_events_execution", "execution_id"),
)

executions = sa.Table(
    "wh_executions", metadata,
    sa.Column("execution_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("operator", sa.Text, nullable=False),
    sa.Column("harbor_hostname", sa.Text, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("remote_name", sa.Text, nullable=False),
    sa.Column("remote_endpoint", sa.Text, nullable=False),
    sa.Column("remote_namespace", sa.Text, nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("first_event_at", sa.Double, nullable=False),
    sa.Column("last_event_at", sa.Double, nullable=False),
    sa.Column("last_occur_at", sa.BigInteger, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # open | final
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16)),
    sa.Column("summary", sa.Text),
    sa.Column("finalized_at", sa.Double),
    sa.Column("next_poll_at", sa.Double),
    # Harbor's execution id: execution_id itself from Harbor 2.13 on; before, the one the bridge found in
    # Harbor's executions API for this group (execution_id < 0), or NULL while unresolved.
    sa.Column("harbor_id", sa.BigInteger),
    sa.Index("wh_executions_due", "state", "last_event_at"),
    sa.Index("wh_executions_harbor_id", "harbor_id"),
)

tasks = sa.Table(
    "wh_tasks", metadata,
    sa.Column("execution_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("task_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("job_status", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("occur_at", sa.BigInteger, nullable=False),
    sa.Column("repository", sa.Text),
    sa.Column("name_tag", sa.Text),
    sa.Column("refs", sa.Text),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("ref_count", sa.Integer),  # how many references Harbor sent; refs keeps the first 1,000
)

# Periodic jobs shared by every replica (the executions watcher): who may run next, and when.
schedules = sa.Table(
    "wh_schedules", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("next_run_at", sa.Double, nullable=False),
)

alerts = sa.Table(
    "wh_alerts", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("alert_key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # execution | task | event
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("execution_id", sa.BigInteger),
    sa.Column("event_id", sa.BigInteger),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

deliveries = sa.Table(
    "wh_deliveries", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.BigInteger, sa.ForeignKey("wh_alerts.id"), nullable=False),
    sa.Column("sink", sa.String(64), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # pending | delivered | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.Double),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("delivered_at", sa.Double),
    sa.UniqueConstraint("alert_id", "sink", name="wh_deliveries_alert_sink"),
    sa.Index("wh_deliveries_due", "state", "next_attempt_at"),
)

schema_version = sa.Table("wh_schema", metadata, sa.Column("version", sa.Integer, nullable=False))

# What the API's keyset pages and the retention pruner read at a million events: each list's filter columns,
# then its sort key, so a page (first or deep) is one index range scan. Made with IF NOT EXISTS at every
# start, so an older store gets them without a schema version (PostgreSQL builds them under the migration
# lock; writes wait while it does, once).
SCALE_INDEXES = [
    sa.Index("wh_events_execution_id", events.c.execution_id, events.c.id),
    sa.Index("wh_events_type_id", events.c.event_type, events.c.id),
    sa.Index("wh_events_received", events.c.received_at),
    sa.Index("wh_executions_recent", executions.c.last_event_at, executions.c.execution_id),
    sa.Index("wh_executions_status_recent", executions.c.status, executions.c.last_event_at,
             executions.c.execution_id),
    sa.Index("wh_executions_policy_recent", executions.c.policy, executions.c.last_event_at,
             executions.c.execution_id),
    sa.Index("wh_executions_status_policy", executions.c.status, executions.c.policy, executions.c.last_event_at,
             executions.c.execution_id),
    sa.Index("wh_deliveries_state_id", deliveries.c.state, deliveries.c.id),
    sa.Index("wh_deliveries_sink_id", deliveries.c.sink, deliveries.c.id),
    sa.Index("wh_deliveries_settled", deliveries.c.state, deliveries.c.updated_at),
]

# Steps from version N-1 to N for stores created by an older release; a fresh store gets the latest at once.
MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE wh_executions ADD COLUMN harbor_id BIGINT",
        "UPDATE wh_executions SET harbor_id = execution_id",
        "CREATE INDEX wh_executions_harbor_id ON wh_executions (harbor_id)",
        "ALTER TABLE wh_tasks ADD COLUMN ref_count INTEGER",
        "CREATE TABLE wh_schedules (name VARCHAR(64) NOT NULL PRIMARY KEY, next_run_at DOUBLE PRECISION NOT NULL)"],
}


def _sqlite_engine(url: str, pool_size: int) -> sa.Engine:
    path = url[len("sqlite:///"):]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                              connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN itself
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock up front: a deferred transaction that upgrades later fails
        # with SQLITE_BUSY instead of waiting when another process committed in between.
        readonly = conn.get_execution_options().get("readonly")
        # Straight to the driver: this runs once per transaction, on the intake's hot path.
        conn.connection.driver_connection.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


PING_AFTER_IDLE = 1.0  # seconds a pooled PostgreSQL connection sat unused before its checkout pings it


def _postgres_engine(url: str, password: str | None, pool_size: int) -> sa.Engine:
    target = sa.engine.make_url(url).set(drivername="postgresql+psycopg")
    if password:
        target = target.set(password=password)
    engine = sa.create_engine(target, pool_size=pool_size, max_overflow=pool_size)

    # pool_pre_ping's round trip on every checkout was a fifth of an API page's time (and the first thing
    # to queue on a busy machine); a connection in steady use has just proved itself. One idle for a
    # while (a restarted server, a proxy's idle timeout) is pinged, and replaced when that fails.
    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure: the pool discards this one and tries a fresh connection
            raise sa.exc.DisconnectionError(f"an idle store connection failed its ping: {type(exc).__name__}") from exc

    return engine


class Prepared:
    """A Core statement compiled once per set of parameter names and run on the driver's own cursor.

    Only for the statements every webhook runs: SQLAlchemy's per-execute bookkeeping measured about 70 µs
    of a 90 µs upsert here. Tables, SQL and the transaction stay SQLAlchemy's; only the execute is direct.
    """

    def __init__(self, store: Store, statement):
        self.dialect, self.statement = store.named_dialect, statement
        self._compiled: dict[tuple, tuple[str, dict]] = {}

    def _compile(self, names: tuple) -> tuple[str, dict]:
        compiled = self.statement.compile(dialect=self.dialect, column_keys=list(names))
        # Literals in the statement (CASE branches, constants) are binds too; their values are fixed here.
        fixed = {k: v for k, v in compiled.params.items() if k not in names}
        self._compiled[names] = found = (str(compiled), fixed)
        return found

    def execute(self, conn, rows: list[dict]):
        """Runs the statement for each row; returns the cursor (RETURNING rows of a single row)."""
        sql, fixed = self._compiled.get(tuple(rows[0])) or self._compile(tuple(rows[0]))
        cursor = conn.connection.driver_connection.cursor()
        if len(rows) == 1:
            cursor.execute(sql, {**fixed, **rows[0]})
        else:
            cursor.executemany(sql, [{**fixed, **row} for row in rows])
        return cursor


class _WriterLock:
    """One SQLite writer at a time on this host, queued in the kernel.

    SQLite's own busy handler polls with sleeps of 1, 2, 5, 10... ms, which is what a p99 shows under
    contention; flock(2) wakes the next writer the moment the lock is free. Every thread keeps its own
    descriptor (flock excludes per open file), reopened after a fork.
    """

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    def _fd(self) -> int:
        held = getattr(self._local, "held", None)
        if held is None or held[0] != os.getpid():
            held = (os.getpid(), _Fd(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)))
            self._local.held = held
        return held[1].fd

    @contextmanager
    def hold(self):
        fd = self._fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


class _Fd:
    """Closes its descriptor when the thread that owned it is gone."""

    def __init__(self, fd: int):
        self.fd = fd

    def __del__(self):
        os.close(self.fd)


class Store:
    """An engine plus the dialect's INSERT (for ON CONFLICT) and write/read transactions."""

    def __init__(self, url: str, *, password: str | None = None, pool_size: int = 8):
        self._writer = None
        self._held: weakref.WeakSet[Held] = weakref.WeakSet()
        if url.startswith("sqlite:"):
            self.engine = _sqlite_engine(url, pool_size)
            self.insert, self.named_dialect = sqlite.insert, sqlite.dialect(paramstyle="named")
            path = url[len("sqlite:///"):]
            if path and path != ":memory:":
                self._writer = _WriterLock(path + "-writer.lock")
        else:
            self.engine = _postgres_engine(url, password, pool_size)
            self.insert, self.named_dialect = postgresql.insert, PGDialect_psycopg()
        self.dialect = self.engine.dialect.name
        ref = weakref.ref(self)
        # Pooled connections must not cross a fork (gunicorn's preload): children open their own.
        os.register_at_fork(after_in_child=lambda: ref() and ref().engine.dispose(close=False))

    @contextmanager
    def write(self, held: Held | None = None):
        """A write transaction: BEGIN IMMEDIATE under the host's writer lock on SQLite, plain on PostgreSQL.

        With `held` (see held()), on that connection: no pool checkout and return per transaction.
        """
        if self._writer is None:
            with self.engine.begin() as conn:
                yield conn
            return
        if held is None:
            with self._writer.hold(), self.engine.begin() as conn:
                yield conn
            return
        with self._writer.hold():
            conn = held.connection()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                held.drop()  # whatever failed may have left it unusable: the next transaction starts on a fresh one
                raise

    def held(self) -> Held | None:
        """A connection kept out of the pool for a caller that runs one write at a time; None off SQLite files."""
        if self._writer is None:  # PostgreSQL keeps its pool and pre-ping; only the local file is this simple
            return None
        found = Held(self)
        self._held.add(found)
        return found

    @contextmanager
    def read(self):
        """A connection for reads. On PostgreSQL in autocommit: each statement sees what was committed when it
        began, as it would in a READ COMMITTED transaction, without the BEGIN and ROLLBACK round trips."""
        options = {"readonly": True} if self.dialect == "sqlite" else {"isolation_level": "AUTOCOMMIT"}
        with self.engine.connect().execution_options(**options) as conn:
            yield conn

    def migrate(self) -> int:
        """Creates the schema, or brings an older one up to date; safe when replicas start together."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            fresh = not sa.inspect(conn).has_table(schema_version.name)
            if fresh:
                metadata.create_all(conn)
                conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
                return SCHEMA_VERSION
            for index in SCALE_INDEXES:
                conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            current = conn.execute(sa.select(schema_version.c.version)).scalar_one()
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.exec_driver_sql(statement)
                log.info("webhook store migrated to schema version %d", version)
            conn.execute(schema_version.update().values(version=max(current, SCHEMA_VERSION)))
            return max(current, SCHEMA_VERSION)

    def close(self) -> None:
        for held in list(self._held):
            held.drop()
        self.engine.dispose()


def claim_schedule(store: Store, name: str, now: float, hold: float) -> bool:
    """Claims the periodic job `name` when it is due at `now` (wh_schedules, one row a job): True for the one
    replica whose claim moved its next run to `now + hold`, False for every other."""
    with store.write() as conn:
        claimed = conn.execute(schedules.update().where(schedules.c.name == name, schedules.c.next_run_at <= now)
                               .values(next_run_at=now + hold)).rowcount
        if claimed:
            return True
        # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT that ON CONFLICT DO NOTHING skipped.
        inserted = conn.execute(store.insert(schedules).values(name=name, next_run_at=now + hold)
                                .on_conflict_do_nothing(index_elements=[schedules.c.name])
                                .returning(schedules.c.name)).first()
        return inserted is not None


def reschedule(store: Store, name: str, at: float) -> None:
    """Moves the next run of the job `name` (which this replica holds) to `at`."""
    with store.write() as conn:
        conn.execute(schedules.update().where(schedules.c.name == name).values(next_run_at=at))


class Held:
    """One pooled connection that a single serial writer (the intake's group-commit leader) keeps between
    transactions. Pool checkout and return measured about 30 us of a ~175 us one-event intake transaction,
    and under the benchmark most intake transactions hold one event. A forked child opens its own."""

    def __init__(self, store: Store):
        self.store = store
        self._conn: sa.Connection | None = None
        self._pid = 0
        self._forked: list = []

    def connection(self) -> sa.Connection:
        if self._conn is not None and self._pid != os.getpid():
            # The parent's connection must not be used, nor closed (SQLite's locks), here: just let it be.
            self._forked.append(self._conn)
            self._conn = None
        if self._conn is None:
            self._conn, self._pid = self.store.engine.connect(), os.getpid()
        return self._conn

    def drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except Exception:  # closing a broken connection may fail as well; it is gone either way
                log.debug("closing a held store connection failed", exc_info=True)
