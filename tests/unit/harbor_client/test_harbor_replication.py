"""Replication policies against the double: always `deletion`, full object on PUT, get by name."""

from __future__ import annotations

import pytest

from harbor_client import (
    BadRequest,
    Conflict,
    PreconditionFailed,
    Registry,
    ReplicationFilter,
    ReplicationPolicy,
    ReplicationTrigger,
    ReplicationTriggerSettings,
    flatten_to_count,
)
from harbor_client.units import bandwidth_to_speed


def _policy(registry_id: int, **overrides) -> ReplicationPolicy:
    fields = {"name": "push-to-relay", "description": "library -> relay", "dest_registry": Registry(id=registry_id),
              "dest_namespace": "mirror", "dest_namespace_replace_count": flatten_to_count("1"),
              "trigger": ReplicationTrigger(type="event_based"),
              "filters": [ReplicationFilter(type="name", value="library/**"),
                          ReplicationFilter(type="tag", value="v*", decoration="matches")],
              "replicate_deletion": True, "speed": bandwidth_to_speed("10MiB/s"), **overrides}
    return ReplicationPolicy(**fields)


@pytest.mark.parametrize("deletion", [True, False])
def test_create_always_sends_deletion(harbor_double, harbor_state, harbor, relay, deletion):
    new_id = harbor.replication_policies.create(_policy(relay["id"], replicate_deletion=deletion))
    sent = harbor_double.last("POST", "/replication/policies").body
    assert sent["deletion"] is deletion and sent["replicate_deletion"] is deletion
    # The double, like Harbor, only reads `deletion`; the stored flag proves it arrived.
    assert harbor_state.policies[new_id]["deletion"] is deletion


def test_create_sends_a_push_policy(harbor_double, harbor, relay):
    harbor.replication_policies.create(_policy(relay["id"]))
    sent = harbor_double.last("POST", "/replication/policies").body
    assert "src_registry" not in sent and sent["dest_registry"] == {"id": relay["id"]}
    assert sent["enabled"] is True and sent["override"] is True
    assert sent["speed"] == 81920 and sent["dest_namespace_replace_count"] == 1


def test_get_reads_harbors_shape(harbor, relay):
    new_id = harbor.replication_policies.create(_policy(relay["id"]))
    got = harbor.replication_policies.get(new_id)
    assert got.is_push and got.src_registry.name == "Local" and got.src_registry.id == 0
    assert got.dest_registry.name == "relay" and got.dest_registry.credential.access_secret == "*****"
    assert (got.replicate_deletion, got.enabled, got.override) == (True, True, True)
    assert got.filters[1].decoration == "matches" and got.trigger.type == "event_based"
    assert (got.speed, got.dest_namespace_replace_count) == (81920, 1)


def test_update_sends_the_full_object(harbor_double, harbor_state, harbor, relay):
    new_id = harbor.replication_policies.create(_policy(relay["id"]))
    policy = harbor.replication_policies.get(new_id)
    policy.description = "changed"
    harbor.replication_policies.update(new_id, policy)
    sent = harbor_double.last("PUT", "/replication/policies/{id}").body
    expected = {"name", "description", "src_registry", "dest_registry", "dest_namespace",
                "dest_namespace_replace_count", "trigger", "filters", "deletion", "replicate_deletion", "override",
                "enabled", "speed", "copy_by_chunk", "single_active_replication"}
    assert set(sent) == expected
    stored = harbor_state.policies[new_id]
    # Nothing was reset by the replace: only the description changed.
    assert stored["description"] == "changed" and stored["deletion"] is True and stored["speed"] == 81920
    assert stored["dest_namespace_replace_count"] == 1 and stored["filters"][1]["decoration"] == "matches"


def test_put_replaces_so_a_partial_object_resets_fields(harbor_state, harbor, relay):
    # Why update() wants the whole object: the double, like Harbor, rebuilds the policy from the body.
    new_id = harbor.replication_policies.create(_policy(relay["id"]))
    harbor.replication_policies.update(new_id, ReplicationPolicy(name="push-to-relay",
                                                                 dest_registry=Registry(id=relay["id"]),
                                                                 enabled=False, override=False))
    stored = harbor_state.policies[new_id]
    assert (stored["speed"], stored["dest_namespace_replace_count"], stored["filters"]) == (0, -1, [])
    assert stored["deletion"] is False and stored["enabled"] is False


def test_get_by_name_list_and_delete(harbor_state, harbor, relay):
    first = harbor.replication_policies.create(_policy(relay["id"], name="a"))
    harbor.replication_policies.create(_policy(relay["id"], name="ab"))
    assert [p.name for p in harbor.replication_policies.list()] == ["a", "ab"]
    assert harbor.replication_policies.get_by_name("a").id == first
    assert harbor.replication_policies.get_by_name("b") is None
    harbor.replication_policies.delete(first)
    assert first not in harbor_state.policies


def test_duplicate_name_conflicts(harbor, relay):
    harbor.replication_policies.create(_policy(relay["id"]))
    with pytest.raises(Conflict, match="already exists"):
        harbor.replication_policies.create(_policy(relay["id"]))


def test_delete_with_running_execution_is_refused(harbor_state, harbor, relay):
    new_id = harbor.replication_policies.create(_policy(relay["id"]))
    harbor_state.add_execution(new_id, status="InProgress")
    with pytest.raises(PreconditionFailed):
        harbor.replication_policies.delete(new_id)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"dest_registry": None}, "either src_registry or dest_registry"),
    ({"dest_registry": Registry(id=77)}, "registry 77 not found"),
    ({"trigger": ReplicationTrigger(type="scheduled", trigger_settings=ReplicationTriggerSettings(cron="* * * * *"))},
     "invalid cron"),
    ({"filters": [ReplicationFilter(type="name", value="x", decoration="excludes")]}, "decoration"),
    ({"dest_namespace": "Upper/Case"}, "namespace"),
])
def test_harbor_validation_errors(harbor, relay, overrides, message):
    with pytest.raises(BadRequest, match=message):
        harbor.replication_policies.create(_policy(relay["id"], **overrides))


def test_scheduled_and_label_filters_are_accepted(harbor_state, harbor, relay):
    trigger = ReplicationTrigger(type="scheduled", trigger_settings=ReplicationTriggerSettings(cron="0 0 */2 * * *"))
    new_id = harbor.replication_policies.create(_policy(relay["id"], trigger=trigger, filters=[
        ReplicationFilter(type="label", value=["prod"], decoration="excludes")]))
    got = harbor.replication_policies.get(new_id)
    assert got.trigger.trigger_settings.cron == "0 0 */2 * * *" and got.filters[0].value == ["prod"]
