"""/api/v1: bearer auth, executions, events, deliveries and replay, with one error format."""

from __future__ import annotations

import time

from adapter.webhooks.middleware import dispatch_once
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import API_TOKEN, WEBHOOK_TOKEN, api_get, post


def seed(app):
    client = app.test_client()
    for doc in payloads.execution_stream(31, 2, failed={2}) + payloads.execution_stream(32, 1):
        assert post(client, doc).status_code == 200
    return client


def test_the_api_wants_a_bearer_token(client):
    for token in ("", "nope", WEBHOOK_TOKEN):
        resp = client.get("/api/v1/executions", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401 and resp.json["error"]["code"] == "UNAUTHORIZED"
    assert client.get("/api/v1/executions").status_code == 401
    assert api_get(client, "/executions").status_code == 200


def test_executions_list_and_detail(app):
    client = seed(app)
    items = api_get(client, "/executions").json["items"]
    assert sorted(i["execution_id"] for i in items) == [31, 32] and {i["state"] for i in items} == {"open"}
    detail = api_get(client, "/executions/31").json
    assert detail["summary"]["counts"]["failed"] == 1 and detail["summary"]["status"] == "failed"
    assert [t["status"] for t in detail["tasks"]] == ["succeeded", "failed"]
    dispatch_once(app, time.time() + 61)
    assert [i["execution_id"] for i in api_get(client, "/executions?status=failed").json["items"]] == [31]
    assert api_get(client, "/executions?state=open").json["items"] == []
    missing = api_get(client, "/executions/999")
    assert missing.status_code == 404 and missing.json["error"] == {"code": "NOT_FOUND", "message": "no execution 999"}


def test_events_filter_by_status_and_show_the_payload(app):
    client = seed(app)
    failed = api_get(client, "/events?status=failed").json["items"]
    assert [(e["execution_id"], e["job_status"]) for e in failed] == [(31, "Error")] * 3  # three attempts
    assert len(api_get(client, "/events?execution_id=31").json["items"]) == 8
    assert len(api_get(client, "/events?limit=2").json["items"]) == 2
    one = api_get(client, f"/events/{failed[0]['id']}").json
    assert one["payload"]["event_data"]["replication"]["failed_artifact"][0]["name_tag"] == "app2 [2 item(s) in total]"
    bad = api_get(client, "/events?status=exploded&limit=0")
    assert bad.status_code == 400 and set(bad.json["error"]["fields"]) == {"status", "limit"}


def test_dead_deliveries_are_listed_and_replayed(make_app):
    app = make_app(outbox={"autostart": False, "retry_schedule": ["1s"], "max_attempts": 1})
    client = seed(app)
    dispatch_once(app, time.time() + 61)  # finalises 31 (failed); port 9 refuses: the one attempt is used up
    (dead,) = api_get(client, "/deliveries?state=dead").json["items"]
    assert dead["sink"] == "ops-http" and dead["attempts"] == 1 and dead["last_error"] == "ConnectionError"
    assert dead["alert"] == "execution:31:1:route1"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    resp = client.post(f"/api/v1/deliveries/{dead['id']}/replay", headers=headers)
    assert resp.status_code == 202 and resp.json["state"] == "pending" and resp.json["attempts"] == 0
    again = client.post(f"/api/v1/deliveries/{dead['id']}/replay", headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "CONFLICT"
    assert client.post("/api/v1/deliveries/4242/replay", headers=headers).status_code == 404
    assert api_get(client, "/deliveries?state=dead").json["items"] == []


def test_ids_beyond_int64_are_404_not_500(client):
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    huge = 2**70
    for resp in (api_get(client, f"/events/{huge}"), api_get(client, f"/executions/{huge}"),
                 client.post(f"/api/v1/deliveries/{huge}/replay", headers=headers)):
        assert resp.status_code == 404 and resp.json["error"]["code"]
