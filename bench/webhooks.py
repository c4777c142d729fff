"""Webhook intake benchmark: events/s accepted durably and p99 under gunicorn+SQLite, against a bare-Flask ceiling."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import selectors
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import tree_cpu  # noqa: I001  (bench/ is run as a script, and gunicorn imports it from there)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-webhook-token"
PATH = "/webhooks/harbor"
TASKS_PER_EXECUTION = 20
FAILED_EVERY = 20  # one task in twenty ends in Error
RAW_TABLE = "CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"


def bare_app():
    """The ceiling: a Flask app that only inserts the raw body into SQLite (WAL), one transaction per request."""
    from flask import Flask, request

    db, local = os.environ["BENCH_CEILING_DB"], threading.local()
    app = Flask("ceiling")

    def conn():
        if not hasattr(local, "conn"):
            local.conn = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
                local.conn.execute(f"PRAGMA {pragma}")
            local.conn.execute(RAW_TABLE)
        return local.conn

    @app.post(PATH)
    def intake():
        c = conn()
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO raw (body) VALUES (?)", (request.get_data(),))
        c.execute("COMMIT")
        return {"status": "accepted"}

    return app


class Payloads:
    """Realistic Harbor REPLICATION events (Default format) with distinct idempotency keys, as Harbor `family`
    sends them (`--harbor`): with ids from 2.13, before without (grouped by their fields, keyed by body hash)."""

    family = "2.13"

    def __init__(self, port: int, start: int = 0):
        from tests.unit.webhooks.payloads import default

        self.default, self.port, self.n = default, port, start

    def next_request(self) -> tuple[str, bytes]:
        """The event's idempotency key (as the bridge derives it) and the whole HTTP request."""
        n, self.n = self.n, self.n + 1
        task, step = divmod(n, 2)
        execution = 100_000 + task // TASKS_PER_EXECUTION
        failed = task % FAILED_EVERY == FAILED_EVERY - 1
        status = "Running" if step == 0 else ("Error" if failed else "Success")
        occur_at = 1_714_557_600 + n
        if self.family == "2.13":
            body = json.dumps(self.default(status, occur_at=occur_at, execution_id=execution, task_id=task + 1,
                                           repo=f"team/app{task % 500}", description="prod-sync-eu")).encode()
            key = f"rep:{execution}:{task + 1}:{status}:{occur_at}"
        else:
            from tests.unit.webhooks import harbor_versions as hv

            body = hv.body(hv.default(self.family, f"app{task}", status, occur_at, started=execution,
                                      description="prod-sync-eu"))
            key = "sha256:" + hashlib.sha256(body).hexdigest()
        head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        return key, head.encode() + body


def _response_end(buf: bytes) -> tuple[int, int] | None:
    """(status, total length) once `buf` holds a whole response, else None."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1").split("\r\n")
    length = next((int(h.split(":", 1)[1]) for h in head[1:] if h.lower().startswith("content-length:")), 0)
    total = head_end + 4 + length
    return (int(head[0].split()[1]), total) if len(buf) >= total else None


class Client:
    """One keep-alive connection that always has exactly one request in flight."""

    def __init__(self, port: int, payloads: Payloads):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.payloads, self.buf, self.sent, self.key = payloads, b"", 0.0, ""

    def send(self) -> None:
        self.key, request = self.payloads.next_request()  # built before the clock starts: not in the latency
        self.sent = time.perf_counter()
        self.sock.sendall(request)

    def receive(self) -> int | None:
        """The status once the whole response is in, else None."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed a keep-alive connection")
        self.buf += chunk
        done = _response_end(self.buf)
        if done is None:
            return None
        self.buf = self.buf[done[1]:]
        return done[0]


def run_load(port: int, duration: float, warmup: float, connections: int, start: int = 0) -> dict:
    """Keep-alive load from one selector loop; only responses to requests sent inside the window count.
    `start` numbers the first event (runs against one store start apart, so that none is a duplicate)."""
    payloads, sel = Payloads(port, start), selectors.DefaultSelector()
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    latencies, statuses, acked = [], {}, set()
    for _ in range(connections):
        client = Client(port, payloads)
        client.send()
        sel.register(client.sock, selectors.EVENT_READ, client)
    while sel.get_map():
        for key, _ in sel.select(timeout=5):
            client = key.data
            if (status := client.receive()) is None:
                continue
            now = time.perf_counter()
            if 200 <= status < 300:
                acked.add(client.key)
            if window[0] <= client.sent and now <= window[1]:
                latencies.append(now - client.sent)
                statuses[status] = statuses.get(status, 0) + 1
            if now < window[1]:
                client.send()
            else:
                sel.unregister(client.sock)
                client.sock.close()
    return summarize(latencies, statuses, duration, payloads.n, acked)


def summarize(latencies: list[float], statuses: dict, duration: float, sent: int, acked: set) -> dict:
    latencies.sort()
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {"rps": ok / duration, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "ok": ok, "statuses": statuses, "sent": sent,
            "acked": acked}


WRK_SCRIPT = """
local threads, counter = {}, 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  -- args: bodies file, thread count, acked-bodies file prefix (or "-"), token, path
  local n, i = tonumber(args[2]), 0
  bodies, idx, path = {}, 0, args[5]
  for line in io.lines(args[1]) do
    if i % n == id - 1 then bodies[#bodies + 1] = line end
    i = i + 1
  end
  headers = {["Authorization"] = args[4], ["Content-Type"] = "application/json"}
  if args[3] ~= "-" then
    out = io.open(args[3] .. "." .. id, "w")
    out:setvbuf("line")
  end
end
function request()
  idx = idx + 1
  if idx > #bodies then error("wrk: out of distinct request bodies") end
  return wrk.format("POST", path, headers, bodies[idx])
end
function response(status, headers, body)
  if out and status >= 200 and status < 300 then out:write(body, "\\n") end
end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.errors.status, latency:percentile(50), latency:percentile(99), 0))
end
"""


def wrk_bodies(port: int, duration: float, warmup: float, tmp: Path) -> None:
    """The request bodies for run_wrk, built before the load (and its CPU accounting) starts."""
    payloads = Payloads(port)
    for phase, seconds in (("warmup", warmup), ("measured", duration)):
        with open(tmp / f"{phase}.bodies", "wb") as fh:  # more than the fastest run can send: none is sent twice
            for _ in range(int(max(seconds, 1) * 5000) + 1000):
                fh.write(payloads.next_request()[1].split(b"\r\n\r\n", 1)[1] + b"\n")


def run_wrk(port: int, duration: float, warmup: float, connections: int, tmp: Path, acked_keys: bool) -> dict:
    """The same load from wrk (C, two threads): distinct bodies from Payloads (see wrk_bodies), one request in
    flight per connection, a separate warm-up run; the acked keys come from the responses the bridge sends."""
    script = tmp / "load.lua"
    script.write_text(WRK_SCRIPT)
    results = []
    for phase, seconds in (("warmup", warmup), ("measured", duration)):
        bodies = tmp / f"{phase}.bodies"
        out = str(tmp / f"{phase}.acked") if acked_keys else "-"
        proc = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(seconds, 1):.0f}s", "--timeout", "10s",
                               "-s", str(script), f"http://127.0.0.1:{port}", "--", str(bodies), "2", out, TOKEN,
                               PATH], capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("WRK "))
        results.append([int(v) for v in line.split()[1:]])
    acked = set()
    if acked_keys:
        for part in tmp.glob("*.acked.*"):
            acked |= {json.loads(x)["key"] for x in part.read_text().splitlines() if x.strip()}
    requests, micros, errors, bad_status, p50, p99, _ = results[1]
    ok = requests - bad_status
    return {"rps": ok / (micros / 1e6), "p50": p50 / 1000, "p99": p99 / 1000, "ok": ok,
            "statuses": {"non-2xx": bad_status, "errors": errors - bad_status},
            "sent": results[0][0] + requests, "acked": acked}


class Server:
    """gunicorn with the settings `swr-bridge serve` uses (gthread), in its own process group."""

    def __init__(self, spec: str, env: dict, workers: int, threads: int, log_path: Path, chdir: Path = ROOT,
                 worker_class: str = "gthread"):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        # Each worker drops a file once its app is loaded: a load started before that lands on the workers
        # that happen to be up, and keep-alive connections stay there for the whole run.
        self.ready_dir = Path(tempfile.mkdtemp(prefix="ready-", dir=log_path.parent))
        hooks = self.ready_dir / "hooks.py"
        hooks.write_text("def post_worker_init(worker):\n"
                         f"    open('{self.ready_dir}/' + str(worker.pid), 'w').close()\n")
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(hooks), "-k", worker_class, "-w", str(workers), "--threads",
               str(threads), "--keep-alive", "75", "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
               "--chdir", str(chdir), spec]
        # The app's own logs (JSON access lines) go to a file, as they would in production.
        self.log = open(log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, start_new_session=True, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait(workers)

    def _wait(self, workers: int) -> None:
        for _ in range(1200):
            if len(list(self.ready_dir.glob("[0-9]*"))) >= workers:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("gunicorn workers did not boot in 60s")

    def cpu_seconds(self) -> float:
        """User+system CPU of the master and its workers so far (noise-proof cost per request)."""
        return tree_cpu(self.proc.pid)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


def bridge_config(tmp: Path, receiver_port: int) -> Path:
    import yaml

    sink = {"type": "http", "url": f"http://127.0.0.1:{receiver_port}/hook", "secret_env": "BENCH_SIGNING_SECRET"}
    config = {"webhooks": {
        "auth_tokens_env": ["BENCH_WEBHOOK_TOKEN"], "store": f"sqlite:///{tmp}/events.db", "quiet_period": "60s",
        "sinks": {"ops": sink},
        "routes": [{"match": {"status": "failed"}, "sinks": ["ops"]}, {"per": "task", "sinks": ["ops"]}]}}
    path = tmp / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def receiver(port: int) -> None:
    """The sink's far end, in its own process so it does not share the load generator's GIL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            return None

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            return None  # a sender closing its pooled connection at exit is not news

    QuietServer(("127.0.0.1", port), Handler).serve_forever()


def measure(kind: str, args, tmp: Path, receiver_port: int) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmp))
    if kind == "ceiling":
        # Created here: two workers racing on the first CREATE TABLE could see "database is locked".
        with sqlite3.connect(run_dir / "raw.db") as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(RAW_TABLE)
        server = Server("webhooks:bare_app()", {"BENCH_CEILING_DB": str(run_dir / "raw.db")}, args.workers,
                        args.threads, run_dir / "server.log", chdir=Path(__file__).parent)
        table, db = "raw", run_dir / "raw.db"
    else:
        env = {"SWR_BRIDGE_CONFIG": str(bridge_config(run_dir, receiver_port)), "BENCH_WEBHOOK_TOKEN": TOKEN,
               "BENCH_SIGNING_SECRET": "bench-signing-secret"}
        server = Server("adapter.wsgi:app", env, args.workers, args.threads, run_dir / "server.log")
        table, db = "wh_events", run_dir / "events.db"
    try:
        if args.load == "wrk":
            wrk_bodies(server.port, args.duration, args.warmup, run_dir)
        cpu, client_cpu = server.cpu_seconds(), _client_cpu()
        if args.load == "wrk":
            result = run_wrk(server.port, args.duration, args.warmup, args.connections, run_dir, kind == "bridge")
        else:
            result = run_load(server.port, args.duration, args.warmup, args.connections)
        result["cpu_ms"] = (server.cpu_seconds() - cpu) * 1000 / max(result["sent"], 1)
        # The load generator shares the CPUs with the server: what it costs per request is shown too.
        result["client_cpu_ms"] = (_client_cpu() - client_cpu) * 1000 / max(result["sent"], 1)
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        result["stored"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if kind == "bridge":  # durably accepted: every key that got a 2xx is in the store afterwards
            stored = {row[0] for row in conn.execute("SELECT idem_key FROM wh_events")}
            result["durable"] = result["acked"] <= stored
    return result


def _client_cpu() -> float:
    """This process's CPU plus its finished children's (wrk), in seconds."""
    own, children = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.user + own.system + children.ru_utime + children.ru_stime


def rounds(args) -> dict:
    """Ceiling and bridge runs, alternating, against one sink receiver process."""
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        receiver_port = sock.getsockname()[1]
    sink = subprocess.Popen([sys.executable, __file__, "--receiver", str(receiver_port)])
    results = {"ceiling": [], "bridge": []}
    try:
        for n in range(args.rounds):
            for kind in ("ceiling", "bridge"):
                r = measure(kind, args, tmp, receiver_port)
                results[kind].append(r)
                print(f"round {n + 1} {kind:8s} {r['rps']:7.0f} req/s  p50 {r['p50']:5.1f} ms  p99 {r['p99']:5.1f} ms"
                      f"  server CPU {r['cpu_ms']:.2f} ms/req  client CPU {r['client_cpu_ms']:.2f} ms/req  2xx {r['ok']}  stored {r['stored']}", flush=True)
    finally:
        sink.terminate()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="ceiling/bridge pairs, alternating")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    # python stays the default: in the runs so far wrk cost the client less CPU (~0.05 vs ~0.09 ms/request) but
    # did not raise the bridge's events/s measurably, and it showed the ceiling a p99 three times higher.
    parser.add_argument("--load", choices=["python", "wrk"], default="python",
                        help="load generator for both the ceiling and the bridge")
    parser.add_argument("--harbor", choices=["2.0", "2.2", "2.8", "2.9", "2.10", "2.13"], default="2.13",
                        help="the Harbor family whose payloads are sent (before 2.13: no ids)")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    Payloads.family = args.harbor
    if args.receiver:
        return receiver(args.receiver)
    print(f"Harbor {args.harbor} payloads; load from {args.load}; gunicorn gthread, {args.workers} workers x {args.threads} threads; "
          f"{args.connections} keep-alive "
          f"connections; {args.duration:.0f}s measured after {args.warmup:.0f}s warm-up; {os.cpu_count()} CPUs; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    report(rounds(args))


def report(results: dict) -> None:
    """Medians over the rounds: one disturbed run on a shared machine does not move them."""
    def median(kind, key):
        return statistics.median(r[key] for r in results[kind])

    bridge, ceiling = median("bridge", "rps"), median("ceiling", "rps")
    p99, ceiling_p99 = median("bridge", "p99"), median("ceiling", "p99")
    durable = all(r["durable"] for r in results["bridge"])
    print(f"\nceiling (bare Flask + SQLite insert): {ceiling:7.0f} req/s   p99 {ceiling_p99:5.1f} ms")
    print(f"bridge  (parse, dedup, group, outbox): {bridge:7.0f} events/s p99 {p99:5.1f} ms")
    print(f"ratio bridge/ceiling: {bridge / ceiling:.2f}   every 2xx stored: {durable}")
    print(f"targets: >= 1500 events/s {'met' if bridge >= 1500 else 'MISSED'}, "
          f"p99 <= 50 ms {'met' if p99 <= 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
