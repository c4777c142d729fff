"""Both payload formats load into one model that keeps Harbor's quirks; malformed bodies name their fields."""

from __future__ import annotations

import json

import pytest

from adapter.webhooks.schemas import PayloadError, load_event
from tests.unit.webhooks import payloads


def load(doc, content_type="application/json"):
    return load_event(json.dumps(doc).encode(), content_type)


def test_default_format_keeps_the_quirks():
    event = load(payloads.default("Success", project="library", remote_ns="mirror"))
    rep = event.replication
    assert event.format == "default" and event.event_type == "REPLICATION" and event.operator == "robot$replctl"
    assert rep.job_status == "Success" and rep.status == "succeeded"
    assert rep.trigger_type == "MANUAL" and rep.trigger == "manual"
    # Push mode: src_resource carries the remote namespace, dest_resource the local project, as Harbor sends it.
    assert rep.src_resource.namespace == "mirror" and rep.dest_resource.namespace == "library"
    assert rep.mode == "push" and rep.project == "library" and rep.remote_namespace == "mirror"
    assert rep.remote.registry_name == "relay"
    art = rep.artifact
    assert art.name_tag == "busybox [2 item(s) in total]" and art.repository == "busybox"
    assert art.references == ("v1", "latest") and art.fail_reason == ""


def test_pull_mode_is_not_swapped():
    rep = load(payloads.default("Running", mode="pull", project="library", remote_ns="upstream")).replication
    assert rep.mode == "pull" and rep.project == "library" and rep.remote_namespace == "upstream"
    assert rep.artifact is None


def test_cloudevents_format_loads_into_the_same_model():
    doc = payloads.cloudevent("Error", event_id="4b2f89a6-548d-4c12-9993-a1f5790b97d2", occur_at=1714557600)
    event = load(doc, "application/cloudevents+json")
    assert event.format == "cloudevents" and event.event_type == "REPLICATION"
    assert event.occur_at == 1714557600 and event.ce_source == "/projects/1/webhook/policies/3"
    assert event.replication.status == "failed" and event.replication.failed_artifact[0].references == ("v1", "latest")
    assert event.key == "ce:4b2f89a6-548d-4c12-9993-a1f5790b97d2"


@pytest.mark.parametrize("raw, status", [("Running", "running"), ("Success", "succeeded"), ("Error", "failed"),
                                         ("Stopped", "stopped")])
def test_raw_statuses(raw, status):
    assert load(payloads.default(raw)).replication.status == status


def test_the_default_key_is_execution_task_status_and_time():
    event = load(payloads.default("Error", execution_id=12, task_id=34, occur_at=1714557600))
    assert event.key == "rep:12:34:Error:1714557600"


def test_other_event_types_load_without_replication_data():
    event = load(payloads.push_artifact())
    assert event.event_type == "PUSH_ARTIFACT" and event.replication is None
    assert event.key.startswith("sha256:")
    ce = {"specversion": "1.0", "id": "x1", "source": "/projects/1", "type": "harbor.artifact.pushed",
          "time": "2024-05-01T10:00:00Z", "data": {"repository": {"name": "busybox"}}}
    assert load(ce).event_type == "PUSH_ARTIFACT"


def errors_of(doc, content_type="application/json") -> dict:
    with pytest.raises(PayloadError) as err:
        load_event(doc if isinstance(doc, bytes) else json.dumps(doc).encode(), content_type)
    return err.value.messages


def test_malformed_bodies_name_their_fields():
    assert errors_of(b"{not json") == {"_body": ["not valid JSON"]}
    assert errors_of([1, 2]) == {"_body": ["a JSON object is required"]}
    doc = payloads.default()
    doc["event_data"]["replication"]["job_status"] = "Succeed"  # the API's word, not the webhook's
    assert "job_status" in errors_of(doc)["event_data"]["replication"]
    doc = payloads.default()
    doc["event_data"]["replication"]["execution_id"] = "12"  # a number, when it is sent (from Harbor 2.13)
    assert "execution_id" in errors_of(doc)["event_data"]["replication"]
    assert "occur_at" in errors_of({"type": "REPLICATION", "occur_at": "soon"})
    assert "replication" in errors_of({"type": "REPLICATION", "occur_at": 1})["event_data"]
    assert "specversion" in errors_of({**payloads.cloudevent(), "specversion": "0.3"})


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x" * 5000])
def test_strings_the_stores_cannot_hold_are_refused(value):
    doc = payloads.default()
    doc["operator"] = value
    assert "operator" in errors_of(doc)


def test_ids_beyond_int64_are_refused():
    doc = payloads.default(execution_id=2**63)
    assert "execution_id" in errors_of(doc)["event_data"]["replication"]
