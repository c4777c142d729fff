"""`swr-bridge events|summaries|deliveries` against a running bridge over HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

from adapter.cli import main
from adapter.webhooks.middleware import dispatch_once
from tests.unit.webhooks import harbor_versions as hv
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import post


@pytest.fixture
def served(make_app):
    yield from _served(make_app)


@pytest.fixture
def served_without_ids(make_app):
    """The same, plus one execution from a Harbor before 2.13 (no ids)."""
    yield from _served(make_app, hv.execution("2.10", started=1714550000))


def _served(make_app, extra=()):
    app = make_app(outbox={"autostart": False, "retry_schedule": ["1s"], "max_attempts": 1})
    client = app.test_client()
    for doc in [*payloads.execution_stream(41, 2, failed={1}), *extra]:
        assert post(client, json.dumps(doc)).status_code == 200
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
    header, row, *_ = out.strip().splitlines()  # the last of the failed task's three attempts first
    assert header.split()[:3] == ["ID", "RECEIVED_AT", "EVENT_TYPE"] and "Error" in row and "41" in row
    event_id = row.split()[0]
    code, out = run("events", "show", event_id, "--url", served, "-o", "json")
    assert code == 0 and json.loads(out)["payload"]["type"] == "REPLICATION"


def test_deliveries_list_and_replay(served):
    code, out = run("deliveries", "list", "--url", served, "--state", "dead", "--json")
    (dead,) = json.loads(out)["items"]
    code, out = run("deliveries", "replay", str(dead["id"]), "--url", served)
    assert code == 0 and out.strip() == f"delivery {dead['id']} to ops-http queued again"
    code, out = run("deliveries", "replay", str(dead["id"]), "--url", served)
    assert code == 1 and "409 CONFLICT" in out


def test_summaries_list_and_show(served_without_ids):
    served = served_without_ids
    code, out = run("summaries", "list", "--url", served, "--json")
    assert code == 0
    found = {s["key"]: s for s in json.loads(out)["items"]}
    assert found[41]["execution_id"] == 41 and found[41]["status"] == "failed"
    (key,) = [k for k in found if k < 0]
    assert found[key]["execution_id"] == "unresolved" and found[key]["status"] == "failed"
    code, out = run("summaries", "show", "41", "--url", served, "-o", "yaml")
    assert code == 0 and yaml.safe_load(out)["execution_id"] == 41
    code, out = run("summaries", "show", "--url", served, "-o", "json", "--", str(key))
    assert code == 0 and json.loads(out)["summary"]["execution_id"] == "unresolved"
    code, out = run("summaries", "list", "--url", served)
    rows = {line.split()[1]: line.split()[0] for line in out.strip().splitlines()[1:]}
    assert rows[str(key)] == "unresolved" and rows["41"] == "41"


def test_a_wrong_token_or_a_missing_env_is_a_clear_error(served, monkeypatch):
    monkeypatch.setenv("OTHER_TOKEN", "wrong")
    code, out = run("events", "list", "--url", served, "--token-env", "OTHER_TOKEN")
    assert code == 1 and "401 UNAUTHORIZED" in out and "wrong" not in out
    code, out = run("events", "list", "--url", served, "--token-env", "UNSET_TOKEN_ENV")
    assert code == 2 and "UNSET_TOKEN_ENV" in out


@pytest.mark.parametrize(("args", "env", "named"), [
    (["events", "list", "--url", "127.0.0.1:8080"], {}, "Invalid value for '--url': expected http(s)://host[:port]"),
    (["deliveries", "list", "--url", "ftp://127.0.0.1"], {}, "Invalid value for '--url'"),
    (["summaries", "list", "--url", "http://127.0.0.1:99999999"], {}, "Invalid value for '--url'"),
    (["events", "list", "--url", "http://u:bridge-api-secret-42@127.0.0.1:9"], {}, "must not carry a password"),
    (["summaries", "list", "--since", "yesterday"], {}, "Invalid value for '--since': expected an ISO 8601 time"),
    (["summaries", "list", "--until", "2026-13-45"], {}, "Invalid value for '--until'"),
    (["events", "list", "--url", "http://127.0.0.1:9"], {"SWR_BRIDGE_URL_TOKEN": "bridge-api-secret-42\nX-Evil: 1"},
     "env SWR_BRIDGE_URL_TOKEN holds a control character"),
    (["events", "list"], {"SWR_BRIDGE_URL": "not a url"}, "Invalid value for '--url'"),
])
def test_malformed_flags_exit_2_before_a_request(args, env, named, monkeypatch):
    # Each was exit 1 with "not reachable (MissingSchema/InvalidHeader)", after a request, or (the password)
    # printed in that line; a malformed --since was only refused by the bridge.
    monkeypatch.setenv("BRIDGE_API_TOKEN", "bridge-api-secret-42")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    token = ["--token-env", "SWR_BRIDGE_URL_TOKEN"] if "SWR_BRIDGE_URL_TOKEN" in env else []
    code, out = run(*args, *token)
    assert code == 2 and named in out and "bridge-api-secret-42" not in out


def test_an_unreachable_bridge_is_a_clear_error():
    code, out = run("deliveries", "list", "--url", "http://127.0.0.1:9")
    assert code == 1 and "not reachable" in out


@pytest.mark.parametrize("command", [("events", "list"), ("summaries", "list"), ("deliveries", "list")])
def test_every_listing_takes_the_output_flag_and_keeps_json_as_an_alias(served, command):
    """The convention of every listing command (-o table|json|yaml); these used to take only --json."""
    outputs = {fmt: run(*command, "--url", served, "-o", fmt) for fmt in ("table", "json", "yaml")}
    assert all(code == 0 for code, _ in outputs.values()), outputs
    as_json = json.loads(outputs["json"][1])
    assert yaml.safe_load(outputs["yaml"][1]) == as_json and as_json["items"]
    assert outputs["table"][1].splitlines()[0].split()[0].isupper()
    code, alias = run(*command, "--url", served, "--json")
    assert code == 0 and json.loads(alias) == as_json
    code, out = run(*command, "--url", served, "-o", "xml")
    assert code == 2 and "table" in out and "yaml" in out


def test_a_show_command_prints_key_value_lines_by_default(served):
    code, out = run("summaries", "show", "41", "--url", served)
    assert code == 0 and any(line.split()[:2] == ["execution_id", "41"] for line in out.splitlines())


def test_lists_page_with_after(served):
    code, out = run("events", "list", "--url", served, "--limit", "500")
    everything = [line.split()[0] for line in out.strip().splitlines()[1:]]
    assert code == 0 and "more:" not in out and len(everything) > 3
    seen, after = [], []
    while True:
        code, out = run("events", "list", "--url", served, "--limit", "3", *after)
        lines = out.strip().splitlines()
        more = lines[-1].startswith("more: --after ")
        page = [line.split()[0] for line in lines[1:len(lines) - more]]
        assert code == 0 and len(page) == 3 or not more
        seen += page
        if not more:
            break
        after = lines[-1].split()[1:]
    assert seen == everything  # every event once, newest first
    code, out = run("summaries", "list", "--url", served, "--policy", "prod-sync", "--since", "2000-01-01",
                    "--limit", "1", "--json")
    assert code == 0 and [i["execution_id"] for i in json.loads(out)["items"]] == [41]
    code, out = run("deliveries", "list", "--url", served, "--after", "garbage")
    assert code == 2 and "400 INVALID_QUERY" in out and "after" in out  # the bridge found a flag malformed
