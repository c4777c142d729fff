"""`swr-bridge events|summaries|deliveries` against a running bridge over HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from adapter.cli import main
from adapter.webhooks.middleware import dispatch_once
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import post


@pytest.fixture
def served(make_app):
    app = make_app(outbox={"autostart": False, "retry_schedule": ["1s"], "max_attempts": 1})
    client = app.test_client()
    for doc in payloads.execution_stream(41, 2, failed={1}):
        assert post(client, doc).status_code == 200
    dispatch_once(app, time.time() + 61)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_events_list_and_show(served):
    code, out = run("events", "list", "--url", served, "--status", "failed")
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split()[:3] == ["ID", "RECEIVED_AT", "EVENT_TYPE"] and "Error" in row and "41" in row
    event_id = row.split()[0]
    code, out = run("events", "show", event_id, "--url", served)
    assert code == 0 and json.loads(out)["payload"]["type"] == "REPLICATION"


def test_deliveries_list_and_replay(served):
    code, out = run("deliveries", "list", "--url", served, "--state", "dead", "--json")
    (dead,) = json.loads(out)["items"]
    code, out = run("deliveries", "replay", str(dead["id"]), "--url", served)
    assert code == 0 and out.strip() == f"delivery {dead['id']} to ops-http queued again"
    code, out = run("deliveries", "replay", str(dead["id"]), "--url", served)
    assert code == 1 and "409 CONFLICT" in out


def test_summaries_list_and_show(served):
    code, out = run("summaries", "list", "--url", served, "--json")
    assert code == 0
    (summary,) = json.loads(out)["items"]
    assert summary["execution_id"] == 41 and summary["status"] == "failed"
    code, out = run("summaries", "show", "41", "--url", served)
    assert code == 0 and json.loads(out)["execution_id"] == 41


def test_a_wrong_token_or_a_missing_env_is_a_clear_error(served, monkeypatch):
    monkeypatch.setenv("OTHER_TOKEN", "wrong")
    code, out = run("events", "list", "--url", served, "--token-env", "OTHER_TOKEN")
    assert code == 1 and "401 UNAUTHORIZED" in out and "wrong" not in out
    code, out = run("events", "list", "--url", served, "--token-env", "UNSET_TOKEN_ENV")
    assert code == 2 and "UNSET_TOKEN_ENV" in out


def test_an_unreachable_bridge_is_a_clear_error():
    code, out = run("deliveries", "list", "--url", "http://127.0.0.1:9")
    assert code == 1 and "not reachable" in out
