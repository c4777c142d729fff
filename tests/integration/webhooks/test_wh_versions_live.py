"""Every Harbor 2.x family's webhooks through gunicorn on SQLite and PostgreSQL, to a real HTTP sink and a real
Alertmanager; the executions watcher of a gunicorn bridge against the strict Harbor double."""

from __future__ import annotations

import json
import time

import pytest
import requests
import yaml

from tests.integration.webhooks.receiver import Receiver
from tests.integration.webhooks.services import Gunicorn
from tests.integration.webhooks.test_wh_resolve_watch import seed_execution
from tests.integration.webhooks.test_wh_sinks_live import wait_for
from tests.unit.webhooks import harbor_versions as hv
from tests.unit.webhooks.helpers import API_TOKEN, WEBHOOK_TOKEN

ALL = ["failed", "succeeded", "stopped"]


def serve(tmp_path, store_conf: dict, **webhooks):
    config = {"webhooks": {"auth_tokens_env": ["BRIDGE_WEBHOOK_TOKEN"], **store_conf, **webhooks,
                           "outbox": {"poll_interval": "200ms", "retry_schedule": ["1s"]}},
              "api": {"tokens_env": ["BRIDGE_API_TOKEN"]}}
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return Gunicorn(path, tmp_path / "gunicorn.log").start()


def send(url: str, doc: dict, fmt: str) -> requests.Response:
    return requests.post(f"{url}/webhooks/harbor", data=hv.body(doc), timeout=10,
                         headers={"Authorization": WEBHOOK_TOKEN, "Content-Type": hv.content_type(fmt)})


def api(url: str, path: str) -> dict:
    answer = requests.get(f"{url}/api/v1{path}", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_family_and_format_is_taken_and_one_execution_gives_one_alert(tmp_path, store_conf, alertmanager):
    policy = f"library -> relay {time.time_ns()}"
    with Receiver(200) as receiver:
        server = serve(tmp_path, store_conf, quiet_period="2s",
                       sinks={"ops-http": {"type": "http", "url": receiver.url, "secret_env": "OPS_SIGNING_SECRET"},
                              "am": {"type": "alertmanager", "url": alertmanager.url}},
                       routes=[{"match": {"status": ALL, "policy": "library -> relay*"}, "sinks": ["ops-http", "am"],
                                "per": "execution"}])
        try:
            # Each family and format once, on its own execution (a start second of its own).
            for n, (family, fmt) in enumerate((f, x) for f in hv.FAMILIES for x in hv.formats(f)):
                for doc in hv.execution(family, fmt, started=hv.STARTED + 100 * (n + 1)):
                    answer = send(server.url, doc, fmt)
                    assert 200 <= answer.status_code < 300, (family, fmt, answer.text)
            # One pre-2.13 execution of two tasks (app2 fails), every event sent twice, under its own policy.
            docs = hv.execution("2.10", description=policy)
            answers = [send(server.url, doc, "default") for doc in docs + docs]
            assert [a.json()["status"] for a in answers] == ["accepted"] * 8 + ["duplicate"] * 8
            # A 2.13 task with 1,001 references.
            big = hv.default("2.13", "big", "Error", hv.STARTED + 5, refs=[f"v{i}" for i in range(1001)])
            big["event_data"]["replication"]["execution_id"] = 99
            assert send(server.url, big, "default").status_code == 200
            (task,) = api(server.url, "/executions/99")["tasks"]
            assert task["reference_count"] == 1001 and len(task["references"]) == 1000

            def delivered_for_policy():
                mine = [json.loads(r["body"]) for r in receiver.requests]
                return [m for m in mine if m["data"]["policy"] == policy]
            (delivery,) = wait_for(delivered_for_policy, timeout=30)
            assert delivery["data"]["execution_id"] == "unresolved"
            assert [a["repository"] for a in delivery["data"]["failed_artifacts"]] == ["library/app2"]
            am = wait_for(lambda: alertmanager.alerts(filter=f'policy="{policy}"'), timeout=30)
            assert [a["labels"]["alertname"] for a in am] == ["HarborReplicationFailed"]
            assert "library/app2:v1,latest" in am[0]["annotations"]["description"]
            time.sleep(3)  # longer than the quiet period: nothing else comes for it
            assert len(delivered_for_policy()) == 1
            finals = wait_for(lambda: len(api(server.url, "/executions?state=final&limit=500")["items"]) >= 8, 30)
            assert finals
        finally:
            server.stop()


@pytest.fixture
def harbor_env(monkeypatch):
    monkeypatch.setenv("HARBOR_PASSWORD", "Harbor12345")


def test_a_failure_before_any_task_alerts_within_two_watch_intervals_once(tmp_path, store_conf, harbor_double,
                                                                          harbor_state, harbor_env):
    interval = 2.0
    with Receiver(200) as receiver:
        server = serve(tmp_path, store_conf, quiet_period="30s",
                       harbor={"url": harbor_double.url, "username": "admin", "password_env": "HARBOR_PASSWORD",
                               "watch": {"interval": f"{interval:g}s", "policies": "*"}},
                       sinks={"ops-http": {"type": "http", "url": receiver.url, "secret_env": "OPS_SIGNING_SECRET"}},
                       routes=[{"match": {"status": "failed"}, "sinks": ["ops-http"]}])
        try:
            time.sleep(interval)  # the watcher has looked at an empty Harbor at least once
            with harbor_state.lock:
                _, execution = seed_execution(harbor_state, status="Failed")
                execution["status_text"] = "failed to prepare for push: quota exhausted"
            failed_at = time.monotonic()
            wait_for(lambda: receiver.requests, timeout=3 * interval)
            assert time.monotonic() - failed_at <= 2 * interval + 0.5  # the dispatcher's own poll on top
            time.sleep(2 * interval)  # two more passes, by both workers: still one
            (request,) = receiver.requests
            data = json.loads(request["body"])["data"]
            assert data["execution_id"] == execution["id"] and data["source"] == "watch"
            assert data["status_text"] == "failed to prepare for push: quota exhausted"
        finally:
            server.stop()
