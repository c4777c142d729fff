"""kill -9 of gunicorn while 1,000 events arrive: every acknowledged event survives, each alert goes out once."""

from __future__ import annotations

import http.client
import json
import queue
import sqlite3
import threading
import time

import yaml

from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.services import Gunicorn
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import SECRETS, SIGNING_SECRET, WEBHOOK_TOKEN, verify_standard_webhook

EXECUTIONS, TASKS, KILL_AFTER = 100, 5, 400


def stream() -> list[tuple[str, bytes]]:
    """1,000 events: 100 executions x 5 tasks x (Running, Success|Error); every fifth execution has a failure."""
    found = []
    for n in range(1, EXECUTIONS + 1):
        failed = {3} if n % 5 == 0 else set()
        for doc in payloads.execution_stream(1000 + n, TASKS, failed=failed):
            rep = doc["event_data"]["replication"]
            found.append((f"rep:{rep['execution_id']}:{rep['task_id']}:{rep['job_status']}:{doc['occur_at']}",
                          payloads.body(doc)))
    return found


def post_all(url: str, items, acked: set, on_ack=None, connections: int = 16) -> None:
    """Posts from 16 keep-alive connections; a key counts as acknowledged only on a 2xx."""
    work: queue.Queue = queue.Queue()
    for item in items:
        work.put(item)
    host, port = url.rsplit("/", 1)[-1].split(":")
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        while True:
            try:
                key, body = work.get_nowait()
            except queue.Empty:
                break
            try:
                conn.request("POST", "/webhooks/harbor", body, {"Authorization": WEBHOOK_TOKEN,
                                                                "Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                if 200 <= resp.status < 300:
                    with lock:
                        acked.add(key)
                    if on_ack:
                        on_ack(len(acked))
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def write_config(tmp_path, receiver_url: str):
    config = {"webhooks": {
        "auth_tokens_env": ["BRIDGE_WEBHOOK_TOKEN"], "store": f"sqlite:///{tmp_path}/events.db",
        # Longer than the kill and restart take, so no execution is finalised half-way.
        "quiet_period": "8s",
        "sinks": {"ops-http": {"type": "http", "url": receiver_url, "secret_env": "OPS_SIGNING_SECRET"}},
        "routes": [{"match": {"status": ["failed", "succeeded", "stopped"]}, "sinks": ["ops-http"]}],
        "outbox": {"poll_interval": "200ms"}}, "api": {"tokens_env": ["BRIDGE_API_TOKEN"]}}
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def settled(db) -> bool:
    with sqlite3.connect(db) as conn:
        open_ = conn.execute("SELECT count(*) FROM wh_executions WHERE state = 'open'").fetchone()[0]
        pending = conn.execute("SELECT count(*) FROM wh_deliveries WHERE state = 'pending'").fetchone()[0]
        finals = conn.execute("SELECT count(*) FROM wh_executions").fetchone()[0]
    return finals == EXECUTIONS and open_ == 0 and pending == 0


def test_kill9_loses_no_acknowledged_event_and_delivers_each_alert_once(tmp_path):
    events, acked = stream(), set()
    with Receiver(200) as receiver:
        server = Gunicorn(write_config(tmp_path, receiver.url), tmp_path / "gunicorn.log").start()
        killed = threading.Event()

        def kill_at(count):
            if count >= KILL_AFTER and not killed.is_set():
                killed.set()
                server.kill9()

        try:
            post_all(server.url, events, acked, kill_at)
            assert killed.is_set() and KILL_AFTER <= len(acked) < len(events)
            first_phase = set(acked)
            # Harbor retries what was not acknowledged; the restarted bridge takes it from the same store.
            server = Gunicorn(server.config_path, server.log_path).start()
            post_all(server.url, [e for e in events if e[0] not in first_phase], acked)
            assert len(acked) == len(events)
            deadline = time.monotonic() + 60
            while not settled(tmp_path / "events.db") and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)  # room for a (wrong) second delivery
        finally:
            server.stop()
    with sqlite3.connect(tmp_path / "events.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT idem_key FROM wh_events")]
        statuses = dict(conn.execute("SELECT execution_id, status FROM wh_executions").fetchall())
    assert first_phase <= set(stored) and len(stored) == len(set(stored)) == len(events)
    assert set(statuses.values()) == {"failed", "succeeded"} and len(statuses) == EXECUTIONS
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == EXECUTIONS  # one alert per execution, each delivered once
    for sent in receiver.requests:
        assert verify_standard_webhook(SIGNING_SECRET, sent["headers"], sent["body"])
        data = json.loads(sent["body"])["data"]
        assert data["status"] == statuses[data["execution_id"]]
    log = (tmp_path / "gunicorn.log").read_text()
    assert all(secret not in log for secret in SECRETS)
