"""Webhook policies per project against the double: `enabled` always explicit, full replace on PUT."""

from __future__ import annotations

import pytest

from harbor_client import BadRequest, NotFound, WebhookPolicy, WebhookTargetObject


def _hook(**overrides) -> WebhookPolicy:
    fields = {"name": "replication-events", "description": "to the bridge", "event_types": ["REPLICATION"],
              "targets": [WebhookTargetObject(address="https://bridge.example.com/harbor/events",
                                              auth_header="Bearer abc", payload_format="CloudEvents")], **overrides}
    return WebhookPolicy(**fields)


@pytest.mark.parametrize("enabled", [True, False])
def test_create_always_sends_enabled(harbor_double, harbor_state, harbor, enabled):
    new_id = harbor.webhook_policies.create("library", _hook(enabled=enabled))
    assert harbor_double.last("POST", "/projects/{project_name_or_id}/webhook/policies").body["enabled"] is enabled
    assert harbor_state.webhook_policies[new_id]["enabled"] is enabled


def test_enabled_defaults_to_true_not_to_harbors_false(harbor_double, harbor_state, harbor):
    new_id = harbor.webhook_policies.create("library", WebhookPolicy(
        name="w", event_types=["REPLICATION"], targets=[WebhookTargetObject(address="http://r/")]))
    assert harbor_state.webhook_policies[new_id]["enabled"] is True


def test_create_by_name_or_id_and_get(harbor_double, harbor):
    by_name = harbor.webhook_policies.create("library", _hook())
    by_id = harbor.webhook_policies.create(1, _hook(name="second"))
    calls = harbor_double.calls("POST", "/projects/{project_name_or_id}/webhook/policies")
    assert calls[0].headers.get("X-Is-Resource-Name") == "true" and "X-Is-Resource-Name" not in calls[1].headers
    got = harbor.webhook_policies.get("library", by_name)
    assert (got.project_id, got.enabled, got.creator) == (1, True, "admin")
    assert got.targets[0].payload_format == "CloudEvents" and got.targets[0].auth_header == "Bearer abc"
    assert harbor.webhook_policies.get(1, by_id).name == "second"


def test_list_get_by_name_update_delete(harbor_state, harbor):
    harbor_state.add_project("other")
    first = harbor.webhook_policies.create("library", _hook())
    harbor.webhook_policies.create("other", _hook(name="elsewhere"))
    assert [p.name for p in harbor.webhook_policies.list("library")] == ["replication-events"]
    assert harbor.webhook_policies.get_by_name("library", "replication-events").id == first
    assert harbor.webhook_policies.get_by_name("library", "elsewhere") is None
    policy = harbor.webhook_policies.get("library", first)
    policy.enabled, policy.event_types = False, ["REPLICATION", "PUSH_ARTIFACT"]
    harbor.webhook_policies.update("library", first, policy)
    stored = harbor_state.webhook_policies[first]
    assert stored["enabled"] is False and stored["event_types"] == ["REPLICATION", "PUSH_ARTIFACT"]
    assert stored["targets"][0]["auth_header"] == "Bearer abc"
    harbor.webhook_policies.delete("library", first)
    assert first not in harbor_state.webhook_policies


def test_default_payload_format_is_stored_for_http(harbor_state, harbor):
    new_id = harbor.webhook_policies.create("library", _hook(targets=[WebhookTargetObject(address="http://r/")]))
    assert harbor_state.webhook_policies[new_id]["targets"][0]["payload_format"] == "Default"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"event_types": []}, "event types"),
    ({"event_types": ["REPLICATE"]}, "event types"),
    ({"targets": []}, "at least one target"),
    ({"targets": [WebhookTargetObject(type="slack", address="https://hooks.slack", payload_format="CloudEvents")]},
     "payload format"),
])
def test_harbor_validation(harbor, overrides, message):
    with pytest.raises(BadRequest, match=message):
        harbor.webhook_policies.create("library", _hook(**overrides))


def test_unknown_project_and_policy(harbor):
    with pytest.raises(NotFound, match="project nope not found"):
        list(harbor.webhook_policies.list("nope"))
    with pytest.raises(NotFound):
        harbor.webhook_policies.get("library", 9)
