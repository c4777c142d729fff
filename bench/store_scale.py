"""The webhook store at a million events (PostgreSQL): API list latency first page and deep, intake events/s
against an empty store, and retention pruning while the intake runs, all in one run."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)
import webhooks as wb  # noqa: I001  (bench/ is run as a script: its modules import each other by name)

from adapter.webhooks import queries
from adapter.webhooks.store import SCALE_INDEXES, Store
from tests.integration.webhooks.services import Postgres
from tests.unit.webhooks import payloads

API_TOKEN = "bench-api-token"
DAY = 86400.0
FIRST_EXECUTION = 50_000_000  # far from the ids bench/webhooks.py's payloads use
POLICIES = [f"policy-{i:02d}" for i in range(40)]
FAILED_EVERY = 20  # one execution in twenty (whatever its policy) has a failed task (and an alert with a delivery)


# --- bulk load ------------------------------------------------------------------------------------------------
def _templates() -> dict[str, str]:
    """Event bodies as Harbor sends them, with {markers} for what differs from event to event."""
    found = {}
    for status in ("Running", "Success", "Error"):
        doc = payloads.default(status, occur_at=111111111, execution_id=222222222, task_id=333333333,
                               repo="team/app444444", description="policy-55")
        text = json.dumps(doc).replace("{", "{{").replace("}", "}}")
        for marker, name in (("111111111", "occur"), ("222222222", "execution"), ("333333333", "task"),
                             ("app444444", "app{app}"), ("policy-55", "{policy}")):
            text = text.replace(marker, name if name.startswith(("app", "{")) else "{" + name + "}")
        found[status] = text
    return found


def generate(events: int, days: float, now: float):
    """(table, row) for executions, tasks, events, alerts and deliveries, oldest first, spread evenly over
    `days`; a generator, so a million rows never sit in memory at once. Executions alternate between one
    and two tasks (two and four events): three events each on average."""
    templates, executions, alerts = _templates(), events // 3, 0
    step = days * DAY / executions
    for n in range(executions):
        eid, policy, at = FIRST_EXECUTION + n, POLICIES[(n * 2654435761 >> 16) % len(POLICIES)], now - days * DAY + n * step
        ntasks, failed = 1 + n % 2, n % FAILED_EVERY == FAILED_EVERY - 1
        occur = int(at)
        for t in range(ntasks):
            tid = eid * 10 + t
            final = "Error" if failed and t == 0 else "Success"
            for i, status in enumerate(("Running", final)):
                body = templates[status].format(occur=occur + i, execution=eid, task=tid, app=tid % 5000,
                                                policy=policy).encode()
                yield "events", (f"rep:{eid}:{tid}:{status}:{occur + i}", at + i * 0.01, "default", "REPLICATION",
                                 occur + i, "robot$replctl", eid, tid, status,
                                 "running" if i == 0 else ("failed" if final == "Error" else "succeeded"), "library",
                                 body)
            yield "tasks", (eid, tid, final, "failed" if final == "Error" else "succeeded", 1, occur + 1,
                            f"library/team/app{tid % 5000}", f"team/app{tid % 5000} [2 item(s) in total]",
                            '["v1", "latest"]', int(final == "Error"))
        status = "failed" if failed else "succeeded"
        summary = json.dumps({"execution_id": eid, "status": status, "policy": policy, "total": ntasks,
                              "counts": {"succeeded": ntasks - failed, "failed": int(failed)}, "source": "events",
                              "incomplete": False})
        yield "executions", (eid, policy, "library", "event_based", "robot$replctl", "harbor.example.com", "push",
                             "relay", "https://relay.example.com", "mirror", occur, at, at + 0.02, occur + 1,
                             2 * ntasks, "final", 1, status, summary, at + 60, None, eid)
        if failed:
            alerts += 1
            yield "alerts", (alerts, f"execution:{eid}:1:route1", "execution", "route1", eid, None, status,
                             f"Replication {policy} failed", "1 task failed", summary, at + 60)
            state = "dead" if alerts % 10 == 0 else "delivered"
            yield "deliveries", (alerts, "ops", state, 1, at + 60, None, None, 204 if state == "delivered" else 500,
                                 None, at + 60, at + 61, at + 61 if state == "delivered" else None)


COLUMNS = {
    "executions": ("wh_executions", "execution_id, policy, project, trigger, operator, harbor_hostname, mode, "
                   "remote_name, remote_endpoint, remote_namespace, started_at, first_event_at, last_event_at, "
                   "last_occur_at, events, state, revision, status, summary, finalized_at, next_poll_at, harbor_id"),
    "tasks": ("wh_tasks", "execution_id, task_id, job_status, status, rank, occur_at, repository, name_tag, refs, "
                          "failures"),
    "events": ("wh_events", "idem_key, received_at, format, event_type, occur_at, operator, execution_id, task_id, "
                            "job_status, status, project, body"),
    "alerts": ("wh_alerts", "id, alert_key, kind, route, execution_id, event_id, status, title, text, data, created_at"),
    "deliveries": ("wh_deliveries", "alert_id, sink, state, attempts, next_attempt_at, lease_owner, lease_until, "
                                    "last_status, last_error, created_at, updated_at, delivered_at"),
}


def bulk_load(dsn: str, rows) -> dict:
    """COPY every table side by side (one connection each; the list indexes dropped first and built after, as
    a restore would). Returns the row counts and (execution_id, last_event_at) of each execution."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for index in SCALE_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {index.name}")
    counts, executions = dict.fromkeys(COLUMNS, 0), []
    with contextlib.ExitStack() as stack:
        conns = {key: stack.enter_context(psycopg.connect(dsn, autocommit=True)) for key in COLUMNS}
        # Every COPY commits when it ends, last opened first: deliveries are opened first, so that their
        # alerts are in before the foreign key is checked.
        with contextlib.ExitStack() as copying:
            copies = {key: copying.enter_context(conns[key].cursor().copy(f"COPY {table} ({columns}) FROM STDIN"))
                      for key, (table, columns) in reversed(COLUMNS.items())}
            for key, row in rows:
                copies[key].write_row(row)
                counts[key] += 1
                if key == "executions":
                    executions.append((row[0], row[12]))
        conns["alerts"].execute("SELECT setval(pg_get_serial_sequence('wh_alerts', 'id'), "
                                "(SELECT max(id) FROM wh_alerts))")
    return {"counts": counts, "executions": executions}


# --- measuring ------------------------------------------------------------------------------------------------
def probes(loaded: dict, now: float, rng: random.Random) -> dict[str, list]:
    """Per list, (first page, deep page) request makers: each call gives a fresh path (random filters). Deep
    pages start at a cursor among the oldest twentieth of the history, as paging there would give."""
    executions, counts = loaded["executions"], loaded["counts"]
    days = (now - executions[0][1]) / DAY

    def old_execution():
        return executions[rng.randrange(max(1, len(executions) // 20))]

    def window():
        start = now - rng.uniform(10, days) * DAY
        fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        return f"since={fmt(start - 30 * DAY)}&until={fmt(start)}"

    def cursor_at(total: int) -> str:
        return queries.encode_cursor([rng.randrange(1, max(2, total // 20))])

    def deep_execution() -> str:
        eid, at = old_execution()
        return queries.encode_cursor([at, eid])

    return {
        "executions": [lambda: "/executions?limit=50", lambda: f"/executions?limit=50&after={deep_execution()}"],
        "executions by status+policy+range": [
            lambda: f"/executions?status=failed&policy={rng.choice(POLICIES)}&{window()}",
            lambda: f"/executions?status=succeeded&policy={rng.choice(POLICIES)}&{window()}&after={deep_execution()}"],
        "events of one execution": [
            lambda: f"/events?execution_id={rng.choice(executions)[0]}",
            lambda: f"/events?execution_id={old_execution()[0]}&limit=2&after={queries.encode_cursor([10**12])}"],
        "events": [lambda: "/events?limit=50", lambda: f"/events?limit=50&after={cursor_at(counts['events'])}"],
        "deliveries by state": [
            lambda: f"/deliveries?state={rng.choice(['delivered', 'dead'])}",
            lambda: f"/deliveries?state=delivered&after={cursor_at(counts['deliveries'])}"],
    }


class Api:
    """One keep-alive connection to the API (http.client: the client's own cost per request stays small)."""

    def __init__(self, port: int):
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {API_TOKEN}"}

    def get(self, path: str) -> tuple[int, float, bytes]:
        """(status, milliseconds, body) of one GET /api/v1`path`."""
        start = time.perf_counter()
        self.conn.request("GET", f"/api/v1{path}", headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        return resp.status, (time.perf_counter() - start) * 1000, body

    def close(self) -> None:
        self.conn.close()


def percentiles(times: list[float]) -> dict:
    """p50, p90, p99 (nearest rank) and the worst of `times`, with their count."""
    ordered = sorted(times)

    def rank(q: float) -> float:
        return ordered[max(0, -(-len(ordered) * q // 100) - 1)]

    return {"n": len(ordered), "p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1]}


def measure_lists(port: int, made: dict, count: int) -> dict:
    """`count` sequential requests per list and page over one keep-alive connection, the twenty kinds taking
    turns request by request (a disturbed second hits them all alike); the client's time per request."""
    api, times = Api(port), {(name, page): [] for name in made for page in ("first", "deep")}
    for _ in range(count):
        for name, pair in made.items():
            for page, make in zip(("first", "deep"), pair, strict=True):
                path = make()
                status, ms, body = api.get(path)
                assert status == 200, (path, status, body[:300])
                times[(name, page)].append(ms)
    api.close()
    return {key: percentiles(found) for key, found in times.items()}


def server_times(log: Path) -> dict[str, list[float]]:
    """The server's own duration_ms per API list (from its JSON access lines): the request inside gunicorn,
    from Flask's first hook to the last byte handed to the socket, without the client or the network."""
    found: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"duration_ms"' not in line or "/api/v1/" not in line:
            continue
        with contextlib.suppress(ValueError):
            fields = json.loads(line)
            found.setdefault(fields["path"], []).append(fields["duration_ms"])
    return found


def explain(url: str, password: str, made: dict, show: bool) -> dict:
    """The database's own time for each list's statements (EXPLAIN (ANALYZE, BUFFERS) after one warm-up run),
    the indexes it read and the buffers it touched: what a page costs at this size without HTTP or Python."""
    from urllib.parse import parse_qsl, urlsplit

    import sqlalchemy as sa

    from adapter.webhooks import api

    schemas = {"/executions": (api.ExecutionArgs, queries.list_executions),
               "/events": (api.EventArgs, queries.list_events), "/deliveries": (api.DeliveryArgs, queries.list_deliveries)}
    store, found = Store(url, password=password), {}

    class Spy:
        def __init__(self, conn, seen):
            self.conn, self.seen = conn, seen

        def execute(self, statement, *args):
            self.seen.append(statement)
            return self.conn.execute(statement, *args)

    with store.read() as conn:
        for name, pair in made.items():
            for page, make in zip(("first", "deep"), pair, strict=True):
                parts = urlsplit(make())
                schema, query = schemas[parts.path]
                seen: list = []
                query(Spy(conn, seen), schema().load(dict(parse_qsl(parts.query))))
                ms, indexes, buffers, plans = 0.0, set(), 0, []
                for statement in seen:
                    sql = str(statement.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
                    plan = [r[0] for r in conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql))]
                    ms += float(next(line for line in plan if line.startswith("Execution Time")).split()[2])
                    indexes |= {m for line in plan for m in re.findall(r"(?:using|Index Scan on) (\w+)", line)}
                    top = next((line for line in plan if "Buffers:" in line), "")
                    buffers += sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top))
                    plans.append(f"{sql}\n" + "\n".join(plan))
                found[(name, page)] = (ms, sorted(indexes), buffers)
                if show:
                    print(f"\n--- {name}, {page} page ({parts.path}?{parts.query})\n" + "\n\n".join(plans))
    store.close()
    return found


def serve(pg: Postgres, database: str, tmp: Path, receiver_port: int, args, retention: dict, label: str) -> wb.Server:
    import yaml

    config = {"webhooks": {
        "auth_tokens_env": ["BENCH_WEBHOOK_TOKEN"], "store": pg.url(database), "store_password_env": "BENCH_PG",
        "quiet_period": "60s", "retention": retention,
        "sinks": {"ops": {"type": "http", "url": f"http://127.0.0.1:{receiver_port}/hook",
                          "secret_env": "BENCH_SIGNING_SECRET"}},
        "routes": [{"match": {"status": "failed"}, "sinks": ["ops"]}, {"per": "task", "sinks": ["ops"]}]},
        "api": {"tokens_env": ["BENCH_API_TOKEN"]}}
    path = tmp / f"{label}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"SWR_BRIDGE_CONFIG": str(path), "BENCH_WEBHOOK_TOKEN": wb.TOKEN, "BENCH_API_TOKEN": API_TOKEN,
           "BENCH_SIGNING_SECRET": "bench-signing-secret", "BENCH_PG": pg.password}
    return wb.Server("adapter.wsgi:app", env, args.workers, args.threads, tmp / f"{label}.log",
                     worker_class=args.worker_class)


KEEP = {"events": None, "summaries": None, "deliveries": None}


def intake_rounds(pg, tmp, receiver_port, args) -> dict:
    """Intake events/s on the empty store and on the loaded one, alternating; distinct events every run."""
    found, start = {"empty": [], "loaded": []}, 0
    for n in range(args.rounds):
        for database in ("empty", "loaded"):
            server = serve(pg, database, tmp, receiver_port, args, KEEP, f"intake-{database}-{n}")
            try:
                result = wb.run_load(server.port, args.duration, args.warmup, args.connections, start=start)
            finally:
                server.stop()
            start += result["sent"] + 2
            found[database].append(result)
            print(f"intake round {n + 1} {database:6s} {result['rps']:6.0f} events/s  p50 {result['p50']:5.1f} ms  "
                  f"p99 {result['p99']:5.1f} ms  statuses {result['statuses']}", flush=True)
    return found


def expired(dsn: str, cutoff: float) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        events = conn.execute("SELECT count(*) FROM wh_events WHERE received_at < %s", (cutoff,)).fetchone()[0]
        deliveries = conn.execute("SELECT count(*) FROM wh_deliveries WHERE updated_at < %s AND state <> 'pending'",
                                  (cutoff + 60 * DAY,)).fetchone()[0]
    return events, deliveries


def concurrent_run(pg, tmp, receiver_port, args, loaded, now, retention: dict, start: int, label: str) -> dict:
    """The intake's load while a prober in another process reads every list, first and deep pages in turn."""
    server = serve(pg, "loaded", tmp, receiver_port, args, retention, label)
    try:
        made = tmp / "probe-rows.json"
        made.write_text(json.dumps({"executions": loaded["executions"][::50], "counts": loaded["counts"], "now": now}))
        prober = subprocess.Popen([sys.executable, __file__, "--probe", str(server.port), str(made),
                                   str(args.duration + args.warmup)], stdout=subprocess.PIPE, text=True)
        intake = wb.run_load(server.port, args.duration, args.warmup, args.connections, start=start)
        lists = json.loads(prober.communicate(timeout=600)[0])
    finally:
        server.stop()
    return {"intake": intake, "lists": lists}


def retention_run(pg, tmp, receiver_port, args, loaded, now) -> dict:
    """Intake plus list reads with retention off (the baseline), then the same with retention on (the
    defaults: a quarter of the loaded events and most settled deliveries are past their age)."""
    dsn = pg.dsn("loaded")
    baseline = concurrent_run(pg, tmp, receiver_port, args, loaded, now, KEEP, 50_000_000, "side-by-side-off")
    before = expired(dsn, time.time() - 90 * DAY)
    pruning = concurrent_run(pg, tmp, receiver_port, args, loaded, now, {}, 60_000_000, "side-by-side-on")
    return {"baseline": baseline, "pruning": pruning, "before": before, "after": expired(dsn, time.time() - 90 * DAY)}


def probe_main(port: int, rows_path: str, seconds: float) -> None:
    """--probe: reads every list, first and deep pages in turn, for `seconds`; prints p50/p99 per list as JSON."""
    data, rng = json.loads(Path(rows_path).read_text()), random.Random(7)
    made = probes(data, data["now"], rng)
    api = Api(port)
    times: dict[str, list] = {name: [] for name in made}
    errors, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, pair in made.items():
            status, ms, _ = api.get(rng.choice(pair)())
            errors += status != 200
            times[name].append(ms)
    print(json.dumps({"lists": {name: percentiles(t) for name, t in times.items()}, "errors": errors}))


# --- the kept cluster: load once, measure many times -----------------------------------------------------------
def prepare(pg: Postgres, args) -> dict:
    """The million events in database `master` (loaded when missing), then fresh `loaded` (a copy of master)
    and `empty` databases for one measurement. Returns the manifest: when the rows were made, their counts."""
    import psycopg

    manifest_path = pg.dir / "manifest.json"
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        if "master" not in have or not manifest_path.exists():
            conn.execute("DROP DATABASE IF EXISTS master")
            manifest_path.unlink(missing_ok=True)
            manifest_path.write_text(json.dumps(load_master(pg, args)))
        for name in ("loaded", "empty"):
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        started = time.monotonic()
        # A file copy of master (statistics and visibility map included): every measurement starts on the same rows.
        conn.execute("CREATE DATABASE loaded TEMPLATE master STRATEGY FILE_COPY")
        conn.execute("CREATE DATABASE empty")
    store = Store(pg.url("empty"), password=pg.password)
    store.migrate()
    store.close()
    with psycopg.connect(pg.dsn("loaded"), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    manifest = json.loads(manifest_path.read_text())
    manifest["fresh"] = True
    manifest_path.write_text(json.dumps(manifest))
    print(f"fresh `loaded` (a copy of master, {time.monotonic() - started:.0f}s) and `empty` databases in {pg.dir}",
          flush=True)
    return manifest


def load_master(pg: Postgres, args) -> dict:
    import psycopg

    now = time.time()
    pg.create_database("master")
    store = Store(pg.url("master"), password=pg.password)
    store.migrate()
    store.close()
    started = time.monotonic()
    loaded = bulk_load(pg.dsn("master"), generate(args.events, args.days, now))
    copied = time.monotonic()
    store = Store(pg.url("master"), password=pg.password)
    store.migrate()  # builds the list indexes, as on the first start after an upgrade
    store.close()
    with psycopg.connect(pg.dsn("master"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size('master'))").fetchone()[0]
    counts = loaded["counts"]
    print(f"loaded {counts['events']:,} events, {counts['executions']:,} executions, {counts['tasks']:,} tasks, "
          f"{counts['deliveries']:,} deliveries over {args.days:.0f} days: generated and COPY in "
          f"{copied - started:.0f}s, list indexes + VACUUM ANALYZE {time.monotonic() - copied:.0f}s; {size}", flush=True)
    return {"now": now, "days": args.days, "counts": counts, "size": size}


def load_executions(dsn: str) -> list:
    """(execution_id, last_event_at) of every loaded execution, oldest first: what the probes page from."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [list(row) for row in conn.execute(
            "SELECT execution_id, last_event_at FROM wh_executions ORDER BY last_event_at, execution_id")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=120.0, help="the loaded events span this many days")
    parser.add_argument("--db", type=Path, help="keep the PostgreSQL cluster in this directory: loaded once, "
                        "re-copied by --prepare, measured by a later run (default: a temp cluster, removed)")
    parser.add_argument("--prepare", action="store_true", help="with --db: only load (when not yet done) and make "
                        "fresh databases for the next measurement, then exit (run it outside the machine lock)")
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per list and page")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    # The README's defaults of `swr-bridge serve` (adapter/gunicorn_conf.py): BridgeWorker, 2 x 16.
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--worker-class", default="adapter.worker.BridgeWorker")
    parser.add_argument("--plans", action="store_true", help="print every list's EXPLAIN (ANALYZE, BUFFERS)")
    parser.add_argument("--lists-only", action="store_true", help="only the lists and their plans (no writes: "
                        "the databases stay fresh for the full run)")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return probe_main(int(args.probe[0]), args.probe[1], float(args.probe[2]))
    if args.prepare and not args.db:
        parser.error("--prepare needs --db DIR")
    pg = Postgres(args.db).start()
    try:
        kept = pg.dir / "manifest.json"
        manifest = json.loads(kept.read_text()) if args.db and kept.exists() else {}
        if args.prepare or not manifest.get("fresh"):
            if args.db and not args.prepare:
                parser.error(f"{args.db} holds no fresh databases: run with --prepare first (outside the lock)")
            manifest = prepare(pg, args)
        if not args.prepare and not args.lists_only:
            manifest["fresh"] = False  # intake and retention change `loaded`: the next run needs a --prepare
            if args.db:
                (pg.dir / "manifest.json").write_text(json.dumps(manifest))
        if not args.prepare:
            measure(pg, args, manifest)
    finally:
        pg.stop()


def measure(pg: Postgres, args, manifest: dict) -> None:
    print(f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}; gunicorn {args.worker_class} "
          f"{args.workers} workers x {args.threads} threads; {args.connections} intake connections", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        receiver_port = sock.getsockname()[1]
    sink = subprocess.Popen([sys.executable, str(Path(wb.__file__)), "--receiver", str(receiver_port)])
    try:
        now, loaded = manifest["now"], {"counts": manifest["counts"], "executions": load_executions(pg.dsn("loaded"))}
        server = serve(pg, "loaded", tmp, receiver_port, args, KEEP, "lists")
        try:
            lists = measure_lists(server.port, probes(loaded, now, random.Random(1)), args.requests)
        finally:
            server.stop()
        inside = server_times(tmp / "lists.log")
        plans = explain(pg.url("loaded"), pg.password, probes(loaded, now, random.Random(2)), args.plans)
        print(f"\nAPI over HTTP: {args.requests} sequential requests per list and page, kinds in turn (client ms), "
              f"and the database's own time and buffers for one such page:")
        for (name, page), t in lists.items():
            ms, indexes, buffers = plans[(name, page)]
            print(f"  {name:34s} {page:5s} p50 {t['p50']:5.1f}  p90 {t['p90']:5.1f}  p99 {t['p99']:5.1f}  max "
                  f"{t['max']:6.1f}  database {ms:5.2f} ms, {buffers:3d} buffers via {', '.join(indexes) or 'primary key'}")
        for path, found in sorted(inside.items()):
            t = percentiles(found)
            print(f"  inside the server {path:24s} {t['n']:5d} requests  p50 {t['p50']:5.1f}  p99 {t['p99']:5.1f}  "
                  f"max {t['max']:6.1f}")
        if args.lists_only:
            return
        intake = intake_rounds(pg, tmp, receiver_port, args)
        kept = retention_run(pg, tmp, receiver_port, args, loaded, now)
        report(lists, intake, kept, manifest["counts"]["events"])
    finally:
        sink.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


def report(lists: dict, intake: dict, kept: dict, events: int) -> None:
    empty = statistics.median(r["rps"] for r in intake["empty"])
    loaded = statistics.median(r["rps"] for r in intake["loaded"])
    bad = [(k, r["statuses"]) for k in intake for r in intake[k] if set(r["statuses"]) - {200}]
    print(f"\nintake: empty store {empty:.0f} events/s, at {events:,} events {loaded:.0f} events/s (medians of the "
          f"rounds): ratio {loaded / empty:.2f}{'' if not bad else f'  non-2xx: {bad}'}")
    (events_before, deliveries_before), (events_after, deliveries_after) = kept["before"], kept["after"]
    print(f"retention while the intake ran: expired events {events_before:,} -> {events_after:,}, settled deliveries "
          f"older than 30 days {deliveries_before:,} -> {deliveries_after:,}")
    print("intake and list reads side by side, retention off, then on (ms):")
    worst = {}
    for phase in ("baseline", "pruning"):
        r, probe = kept[phase]["intake"], kept[phase]["lists"]
        print(f"  {phase:8s} intake {r['rps']:4.0f} events/s  p50 {r['p50']:5.1f}  p99 {r['p99']:5.1f}  "
              f"statuses {r['statuses']}; list errors {probe['errors']}")
        for name, t in probe["lists"].items():
            print(f"  {phase:8s} {name:34s} {t['n']:4d} requests  p50 {t['p50']:5.1f}  p99 {t['p99']:5.1f}  "
                  f"max {t['max']:6.1f}")
        worst[phase] = max([r["p99"]] + [t["p99"] for t in probe["lists"].values()])
    r, probe = kept["pruning"]["intake"], kept["pruning"]["lists"]
    pruned = events_before - events_after + deliveries_before - deliveries_after
    clean = set(r["statuses"]) <= {200} and not probe["errors"]
    worst_list = max(t["p99"] for t in lists.values())
    print(f"\ntargets: list p99 <= 50 ms (worst {worst_list:.1f}) {'met' if worst_list <= 50 else 'MISSED'}; "
          f"intake ratio >= 0.8 ({loaded / empty:.2f}) {'met' if loaded / empty >= 0.8 else 'MISSED'}; "
          f"retention pruned {pruned:,} rows under intake with no error ({'met' if clean and pruned else 'MISSED'}), "
          f"worst p99 {worst['pruning']:.1f} ms ({'met' if worst['pruning'] <= 50 else 'MISSED'}; with retention off, "
          f"same load: {worst['baseline']:.1f} ms); load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
