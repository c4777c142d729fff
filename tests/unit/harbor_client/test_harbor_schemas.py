"""Schemas mirror the swagger definitions: unknown fields survive a load/dump round trip, None is never sent."""

from __future__ import annotations

import pytest

from harbor_client import (
    Registry,
    RegistryUpdate,
    ReplicationExecution,
    ReplicationPolicy,
    WebhookPolicy,
    WebhookTargetObject,
)
from harbor_client.schemas import dump, load
from tests.doubles.harbor.swagger import contract


def test_unknown_policy_fields_are_kept_and_sent_back():
    # A newer Harbor's field must survive GET -> modify -> PUT, or the full-replace PUT would wipe it.
    policy = load(ReplicationPolicy, {"id": 4, "name": "p", "dest_registry": {"id": 3}, "future_knob": {"x": 1},
                                      "trigger": {"type": "manual", "trigger_flag": True}})
    assert policy.extra == {"future_knob": {"x": 1}} and policy.trigger.extra == {"trigger_flag": True}
    body = dump(policy)
    assert body["future_knob"] == {"x": 1} and body["trigger"]["trigger_flag"] is True


def test_deletion_is_what_harbor_stored():
    assert load(ReplicationPolicy, {"deletion": True}).replicate_deletion is True
    assert load(ReplicationPolicy, {"replicate_deletion": True, "deletion": False}).replicate_deletion is False


def test_omitted_booleans_load_as_false_like_go_swagger_means():
    policy = load(ReplicationPolicy, {"id": 1, "name": "p"})
    assert (policy.enabled, policy.override, policy.replicate_deletion) == (False, False, False)
    assert policy.speed is None and policy.copy_by_chunk is None
    assert load(WebhookPolicy, {"id": 1}).enabled is False
    assert load(Registry, {"id": 0}).insecure is False
    execution = load(ReplicationExecution, {"id": 1})
    assert (execution.total, execution.status_text) == (0, "")


def test_read_only_and_unset_fields_are_not_sent():
    body = dump(ReplicationPolicy(id=9, name="p", dest_registry=Registry(id=3, name="relay", url="https://x")))
    assert body == {"name": "p", "dest_registry": {"id": 3}, "deletion": False, "replicate_deletion": False,
                    "override": True, "enabled": True}
    assert dump(RegistryUpdate()) == {}


def test_webhook_enabled_is_explicit_even_when_none():
    body = dump(WebhookPolicy(name="w", enabled=None, targets=[WebhookTargetObject(address="http://r/")]))
    assert body["enabled"] is False


def test_a_registry_reference_needs_an_id():
    with pytest.raises(ValueError, match="dest_registry needs a registry id"):
        dump(ReplicationPolicy(name="p", dest_registry=Registry(name="relay")))


@pytest.mark.parametrize(("definition", "obj"), [
    ("ReplicationPolicy", ReplicationPolicy(name="p", dest_registry=Registry(id=1), speed=8, copy_by_chunk=True,
                                            dest_namespace_replace_count=2, single_active_replication=False)),
    ("Registry", Registry(name="r", url="https://r", type="huawei-SWR", ca_certificate="PEM")),
    ("RegistryUpdate", RegistryUpdate(url="https://r", access_key="a", access_secret="s", insecure=True)),
    ("WebhookPolicy", WebhookPolicy(name="w", event_types=["REPLICATION"],
                                    targets=[WebhookTargetObject(address="http://r/", payload_format="Default")])),
])
def test_every_dumped_body_validates_against_the_swagger(definition, obj):
    assert contract().validate({"$ref": f"#/definitions/{definition}"}, dump(obj)) == []
