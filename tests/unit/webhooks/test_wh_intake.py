"""POST /webhooks/harbor: token check, size limit, parsing, durable storage before the 2xx, dedup."""

from __future__ import annotations

import hmac

import sqlalchemy as sa

from adapter.webhooks import bridge as bridge_module
from adapter.webhooks.middleware import MAX_BODY
from adapter.webhooks.store import events, executions, tasks
from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import WEBHOOK_TOKEN, WEBHOOK_TOKEN_NEXT, post


def count(bridge, table) -> int:
    with bridge.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_an_accepted_event_is_committed_before_the_answer(client, bridge):
    resp = post(client, payloads.default("Success"))
    assert resp.status_code == 200 and resp.json["status"] == "accepted"
    # A fresh connection sees it: the transaction committed before the view answered.
    with bridge.store.engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.id == resp.json["id"])).one()
    assert row.idem_key == "rep:12:34:Success:1714557600" and row.status == "succeeded" and row.project == "library"


def test_any_configured_token_is_accepted_for_rotation(client):
    assert post(client, payloads.default(task_id=1), token=WEBHOOK_TOKEN).status_code == 200
    assert post(client, payloads.default(task_id=2), token=WEBHOOK_TOKEN_NEXT).status_code == 200
    assert post(client, payloads.default(task_id=3), token=f"Bearer {WEBHOOK_TOKEN}").status_code == 200


def test_a_wrong_or_missing_token_is_401_and_stores_nothing(client, bridge):
    for token in ("", "wrong", WEBHOOK_TOKEN[:-1], WEBHOOK_TOKEN + "x", "Bearer ", "tök€n"):
        resp = post(client, payloads.default(), token=token)
        assert resp.status_code == 401 and resp.json["error"]["code"] == "UNAUTHORIZED"
    assert count(bridge, events) == 0


def test_the_token_is_compared_in_constant_time_against_every_token(client, monkeypatch):
    compared, original = [], hmac.compare_digest

    def spy(a, b):
        compared.append(b)
        return original(a, b)

    monkeypatch.setattr(bridge_module.hmac, "compare_digest", spy)
    post(client, payloads.default(), token=WEBHOOK_TOKEN)
    # No early exit on the first match: both configured tokens are compared.
    assert {WEBHOOK_TOKEN.encode(), WEBHOOK_TOKEN_NEXT.encode()} <= set(compared)


def test_bodies_over_the_limit_are_413(client, bridge):
    big = b'{"type": "REPLICATION", "pad": "' + b"x" * MAX_BODY + b'"}'
    resp = post(client, big)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert count(bridge, events) == 0


def test_a_body_of_exactly_the_limit_is_read(client):
    raw = b'{"type": "PUSH_ARTIFACT", "occur_at": 1, "operator": "admin"}'
    raw = raw[:-1] + b" " * (MAX_BODY - len(raw)) + b"}"  # padded with JSON whitespace to the limit
    assert len(raw) == MAX_BODY
    assert post(client, raw).status_code == 200
    assert post(client, raw[:-1] + b" }").status_code == 413


def test_malformed_is_400_with_the_field_errors(client):
    doc = payloads.default()
    doc["event_data"]["replication"]["task_id"] = "34"
    resp = post(client, doc)
    assert resp.status_code == 400
    err = resp.json["error"]
    assert err["code"] == "INVALID_PAYLOAD" and "task_id" in err["fields"]["event_data"]["replication"]


def test_a_duplicate_is_acknowledged_and_not_stored_twice(client, bridge):
    doc = payloads.default("Error")
    first, second = post(client, doc), post(client, doc)
    assert first.status_code == second.status_code == 200
    assert second.json == {"status": "duplicate", "key": first.json["key"]}
    assert count(bridge, events) == 1
    with bridge.store.read() as conn:
        assert conn.execute(sa.select(tasks.c.failures)).scalar_one() == 1
        assert conn.execute(sa.select(executions.c.events)).scalar_one() == 1


def test_cloudevents_dedup_on_their_id(client, bridge):
    doc = payloads.cloudevent("Running", event_id="same-id")
    assert post(client, doc, content_type="application/cloudevents+json").json["status"] == "accepted"
    again = payloads.cloudevent("Success", event_id="same-id")
    assert post(client, again, content_type="application/cloudevents+json").json["status"] == "duplicate"
    assert post(client, payloads.cloudevent("Running")).json["status"] == "accepted"
    assert count(bridge, events) == 2


def test_other_event_types_are_stored_and_acknowledged_without_an_execution(client, bridge):
    resp = post(client, payloads.push_artifact())
    assert resp.status_code == 200 and resp.json["status"] == "accepted"
    assert count(bridge, events) == 1 and count(bridge, executions) == 0


def test_a_store_outage_is_503_with_retry_after_never_500(client, bridge, monkeypatch):
    def broken(*_a, **_k):
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(bridge.store, "write", broken)
    resp = post(client, payloads.default())
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert resp.json["error"]["code"] == "STORE_UNAVAILABLE"


def test_only_post_is_served(client):
    resp = client.get("/webhooks/harbor")
    assert resp.status_code == 405 and resp.json["error"]["code"]
