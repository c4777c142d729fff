"""The intake served in front of Flask answers as a Flask route would: errors, request ids, logs, metrics."""

from __future__ import annotations

import io
import json
import logging

from prometheus_client import REGISTRY

from adapter.webhooks.middleware import MAX_BODY
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import WEBHOOK_TOKEN, post

PATH = "/webhooks/harbor"


def _requests(status: str) -> float:
    labels = {"route": PATH, "method": "POST", "status": status}
    return REGISTRY.get_sample_value("swr_bridge_request_duration_seconds_count", labels) or 0.0


def test_other_methods_get_405_with_allow(client):
    resp = client.get(PATH)
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert resp.json["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_other_paths_still_reach_flask(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/events").status_code == 401  # the API blueprint, with its own auth
    assert client.post(PATH + "/").status_code == 404  # only the exact path is the intake


def test_request_ids_are_kept_when_sane_and_made_otherwise(client):
    doc = payloads.default()
    sane = client.post(PATH, data=json.dumps(doc), headers={"Authorization": WEBHOOK_TOKEN,
                                                            "Content-Type": "application/json",
                                                            "X-Request-Id": "harbor-42"})
    assert sane.headers["X-Request-Id"] == "harbor-42"
    odd = client.post(PATH, data=b"{}", headers={"Authorization": WEBHOOK_TOKEN, "X-Request-Id": "a b c!"})
    assert odd.status_code == 400 and len(odd.headers["X-Request-Id"]) == 32


def test_each_request_gets_an_access_line_and_a_duration_sample(client, caplog):
    caplog.set_level(logging.INFO, logger="swr_bridge.access")
    before_ok, before_401 = _requests("2xx"), _requests("4xx")
    body = json.dumps(payloads.default()).encode()
    assert post(client, body).status_code == 200
    assert post(client, body, token="wrong").status_code == 401
    lines = [r.fields for r in caplog.records if r.name == "swr_bridge.access"]
    assert [(f["method"], f["path"], f["status"]) for f in lines] == [("POST", PATH, 200), ("POST", PATH, 401)]
    assert lines[0]["bytes_in"] == len(body) and lines[0]["bytes_out"] > 0 and lines[0]["duration_ms"] >= 0
    assert WEBHOOK_TOKEN not in caplog.text
    assert (_requests("2xx") - before_ok, _requests("4xx") - before_401) == (1, 1)


def _call(app, environ_extra: dict, body: bytes):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": PATH, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "HTTP_AUTHORIZATION": WEBHOOK_TOKEN,
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), **environ_extra}
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    out = b"".join(app.wsgi_app(environ, start_response))
    return seen["status"], seen["headers"], json.loads(out)


def test_a_chunked_body_is_read_to_its_end_and_only_up_to_the_limit(app):
    body = json.dumps(payloads.default()).encode()
    status, headers, answer = _call(app, {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}, body)
    assert status == "200 OK" and answer["status"] == "accepted"
    assert int(headers["Content-Length"]) == len(json.dumps(answer, separators=(",", ":"))) + 1
    status, _, answer = _call(app, {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}, b" " * (MAX_BODY + 1))
    assert status.startswith("413") and answer["error"]["code"] == "PAYLOAD_TOO_LARGE"
    status, _, answer = _call(app, {"CONTENT_LENGTH": str(MAX_BODY + 1)}, b"")
    assert status.startswith("413")
    status, _, answer = _call(app, {"CONTENT_LENGTH": ""}, body)  # no length, not terminated: nothing is read
    assert status.startswith("400")


def test_an_unexpected_failure_is_a_json_500_and_a_logged_traceback(app, bridge, monkeypatch, caplog):
    def boom(event, now):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(bridge, "record", boom)
    status, _, answer = _call(app, {}, json.dumps(payloads.default()).encode())
    assert status.startswith("500") and answer == {"error": {"code": "INTERNAL_ERROR",
                                                             "message": "internal error; see the server log"}}
    assert "secret internals" in caplog.text  # in the server's log, never in the answer
