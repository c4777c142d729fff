"""Every Harbor 2.x family's REPLICATION webhooks: loaded, grouped per execution, one alert, ids where sent."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from adapter.webhooks.middleware import dispatch_once
from adapter.webhooks.schemas import load_event
from adapter.webhooks.store import alerts, events
from tests.unit.webhooks import harbor_versions as hv
from tests.unit.webhooks.helpers import api_get, post

CASES = [(family, fmt) for family in hv.FAMILIES for fmt in hv.formats(family)]


def send(client, docs: list[dict], fmt: str) -> list:
    return [post(client, hv.body(doc), content_type=hv.content_type(fmt)) for doc in docs]


@pytest.mark.parametrize("family,fmt", CASES)
def test_each_family_loads_with_what_it_sends(family, fmt):
    build = hv.cloudevent if fmt == "cloudevents" else hv.default
    event = load_event(hv.body(build(family, "app2", "Error", hv.STARTED + 3)), hv.content_type(fmt))
    rep = event.replication
    assert rep.trigger == "manual" and rep.status == "failed"
    assert rep.artifact.repository == "app2" and rep.execution_timestamp == hv.STARTED
    if family == "2.13":
        assert (rep.execution_id, rep.task_id, rep.group_id) == (12, 35, 12)
        assert event.key.startswith(("rep:12:35:Error:", "ce:"))
    else:
        assert rep.execution_id is None and rep.task_id is None and rep.group_id < 0
        assert event.key.startswith("ce:" if fmt == "cloudevents" else "sha256:")
    assert rep.artifact.references == (("v1", "latest") if family in ("2.10", "2.13") else ())
    # Before 2.9 Harbor sends the trigger as the operator: nobody is named.
    assert event.user == ("" if family in ("2.0", "2.2", "2.8") else "robot$replctl")


def test_cloudevents_do_not_exist_before_2_8():
    assert hv.formats("2.2") == ["default"]
    with pytest.raises(AssertionError):
        hv.cloudevent("2.2", "app1", "Success", hv.STARTED)


def test_an_empty_description_is_left_out_and_still_groups():
    docs = [hv.default("2.2", repo, "Success", hv.STARTED + n, description="") for n, repo in enumerate(["a", "b"])]
    assert "description" not in docs[0]["event_data"]["replication"]
    first, second = (load_event(hv.body(d)).replication for d in docs)
    assert first.group_id == second.group_id and first.group_task_id != second.group_task_id


def test_groups_differ_by_start_destination_description_and_host():
    base = load_event(hv.body(hv.default("2.2", "a", "Success", 1))).replication
    others = [hv.default("2.2", "a", "Success", 1, started=hv.STARTED + 1),
              hv.default("2.2", "a", "Success", 1, remote_ns="other"),
              hv.default("2.2", "a", "Success", 1, description="another policy")]
    moved = hv.default("2.2", "a", "Success", 1)
    moved["event_data"]["replication"]["harbor_hostname"] = "harbor2.example.com"
    for doc in others + [moved]:
        assert load_event(hv.body(doc)).replication.group_id != base.group_id


def test_nested_repositories_cut_at_the_second_slash_stay_apart_by_their_references():
    # Harbor < 2.13 sends Split("library/tools/app [1 item(s) in total]", "/")[1] == "tools" as name_tag.
    one = hv.default("2.10", "tools", "Error", 5, refs=("app-v1",))
    two = hv.default("2.10", "tools", "Error", 5, refs=("db-v1",))
    assert load_event(hv.body(one)).replication.group_task_id != load_event(hv.body(two)).replication.group_task_id


@pytest.mark.parametrize("family,fmt", CASES)
def test_a_two_task_execution_sent_twice_gives_one_alert_naming_the_failed_artifact(make_app, family, fmt):
    app = make_app(quiet_period="30s")
    client = app.test_client()
    docs = hv.execution(family, fmt)
    first, again = send(client, docs, fmt), send(client, docs, fmt)  # Harbor's retries resend the same body
    assert all(r.status_code == 200 and r.get_json()["status"] == "accepted" for r in first)
    assert all(r.status_code == 200 and r.get_json()["status"] == "duplicate" for r in again)
    now = time.time()
    assert dispatch_once(app, now + 31)["finalized"] == 1
    assert dispatch_once(app, now + 120)["finalized"] == 0
    bridge = app.extensions["webhooks"]
    with bridge.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == len(docs)
        (alert,) = conn.execute(sa.select(alerts.c.title, alerts.c.text, alerts.c.data)).all()
    data = json.loads(alert.data)
    assert alert.title == "Replication failed: library -> relay"
    assert [a["repository"] for a in data["failed_artifacts"]] == ["library/app2"]
    assert data["counts"]["succeeded"] == 1 and data["counts"]["failed"] == 1
    expected = 12 if family == "2.13" else "unresolved"
    assert data["execution_id"] == expected and f"execution {expected}," in alert.text
    listed = api_get(client, "/executions").get_json()["items"]
    assert [(i["execution_id"], i["status"]) for i in listed] == [(expected, "failed")]
    found = api_get(client, f"/events?execution_id={listed[0]['key']}").get_json()["items"]
    assert len(found) == len(docs) and {e["execution_id"] for e in found} == {expected}
    shown = api_get(client, f"/executions/{listed[0]['key']}").get_json()
    assert [t["task_id"] for t in shown["tasks"]] == ([34, 35] if family == "2.13" else [None, None])


def test_references_beyond_a_thousand_are_counted_not_refused(make_app):
    app = make_app()
    client = app.test_client()
    refs = [f"v{n}" for n in range(1001)]
    for fmt in ("default", "cloudevents"):
        build = hv.cloudevent if fmt == "cloudevents" else hv.default
        doc = build("2.13", "big", "Error", hv.STARTED + 5, refs=refs)
        if fmt == "cloudevents":
            doc["data"]["replication"]["execution_id"] = 13
        answer = post(client, hv.body(doc), content_type=hv.content_type(fmt))
        assert answer.status_code == 200, answer.get_json()
    for execution_id in (12, 13):
        (task,) = api_get(client, f"/executions/{execution_id}").get_json()["tasks"]
        assert task["reference_count"] == 1001 and len(task["references"]) == 1000
        assert task["references"][-1] == "v999"


@pytest.mark.parametrize("family", hv.FAMILIES)
def test_the_harbor_doubles_notifier_sends_what_the_fixtures_hold(family):
    from harbor_client.versions import parse_version
    from tests.doubles.harbor import notifier

    version = parse_version(family)
    ctx = {"policy": {"description": "library -> relay", "override": True, "creator": "admin"},
           "registry": {"name": "relay", "type": "docker-registry", "url": "https://relay.example.com",
                        "credential": {"type": "basic"}},
           "execution": {"id": 12, "trigger": "manual"}, "ext_endpoint": "https://harbor.example.com",
           "operator": "robot$replctl", "execution_started": hv.STARTED}
    task = {"id": 35, "resource_type": "artifact", "src_resource": "library/app2 [2 item(s) in total]",
            "dst_resource": "mirror/app2 [2 item(s) in total]"}
    sent = notifier.replication_data(ctx, task, "Error", ["v1", "latest"], version)
    assert sent == hv.replication(family, "app2", "Error")
    assert json.loads(notifier.default_body(ctx, sent, version)[0])["operator"] == hv.operator(family)
    assert notifier.sends(version, "Running") == (family != "2.0")
    nested = notifier.replication_data(ctx, {**task, "src_resource": "library/tools/app [1 item(s) in total]"},
                                       "Error", ["v1"], version)["failed_artifact"][0]["name_tag"]
    assert nested == ("tools/app [1 item(s) in total]" if family == "2.13" else "tools")


def test_a_repository_of_100_000_tags_is_one_accepted_event(make_app):
    app = make_app()
    refs = [f"1.{n // 1000}.{n % 1000}" for n in range(100_000)]
    doc = hv.default("2.10", "huge", "Success", hv.STARTED + 5, refs=refs)
    assert len(hv.body(doc)) > 1024 * 1024
    answer = post(app.test_client(), hv.body(doc))
    assert answer.status_code == 200 and answer.get_json()["status"] == "accepted"
    (item,) = api_get(app.test_client(), "/executions").get_json()["items"]
    (task,) = api_get(app.test_client(), f"/executions/{item['key']}").get_json()["tasks"]
    assert task["reference_count"] == 100_000 and task["references"][:2] == ["1.0.0", "1.0.1"]


def test_a_stopped_execution_without_ids_reads_stopped(make_app):
    app = make_app(quiet_period="30s", routes=[{"match": {"status": "stopped"}, "sinks": ["ops-http"]}])
    client = app.test_client()
    for repo, at in (("app1", 1), ("app2", 1), ("app3", 2)):
        post(client, hv.body(hv.default("2.2", repo, "Running", hv.STARTED + at)))
    for at in (3, 3, 4):  # Stopped events name no artifact; two at one second are one body
        post(client, hv.body(hv.default("2.2", "app1", "Stopped", hv.STARTED + at)))
    assert dispatch_once(app, time.time() + 31)["finalized"] == 1
    (alert,) = [json.loads(row.data) for row in alert_rows(app)]
    assert alert["status"] == "stopped" and alert["counts"]["stopped"] == 1


def alert_rows(app) -> list:
    with app.extensions["webhooks"].store.read() as conn:
        return conn.execute(sa.select(alerts.c.data)).all()
