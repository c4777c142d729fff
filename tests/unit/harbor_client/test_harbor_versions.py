"""Version parsing, and gating: a field too new for the connected Harbor fails loudly, an unset one is left out."""

from __future__ import annotations

import pytest

from harbor_client import (
    BadRequest,
    HarborClient,
    HarborVersion,
    Registry,
    RegistryPing,
    RegistryUpdate,
    ReplicationPolicy,
    UnsupportedByHarborVersion,
    WebhookPolicy,
    WebhookTargetObject,
    parse_version,
)
from harbor_client.versions import check_fields
from tests.doubles.harbor import ADMIN


@pytest.mark.parametrize(("text", "version"), [
    ("v2.15.2-080b0220", HarborVersion(2, 15, 2)),
    ("v2.3.0-abcdef12", HarborVersion(2, 3, 0)),
    ("2.10.1", HarborVersion(2, 10, 1)),
    ("v2.16.0", HarborVersion(2, 16, 0)),
    ("v2.4", HarborVersion(2, 4, 0)),
    ("dev-abc", None),
    ("", None),
    (None, None),
])
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_versions_order_numerically_not_as_text():
    assert parse_version("v2.10.0") > parse_version("v2.9.9")
    assert str(parse_version("v2.15.2-080b0220")) == "2.15.2"


# (field set on a policy, the release that introduced it, the newest release without it)
POLICY_FIELDS = [
    ({"dest_namespace_replace_count": 1}, "2.3.0", "v2.2.3-aaaaaaaa"),
    ({"speed": 1024}, "2.4.0", "v2.3.5-aaaaaaaa"),
    ({"copy_by_chunk": True}, "2.7.0", "v2.6.4-aaaaaaaa"),
    ({"single_active_replication": False}, "2.14.0", "v2.13.1-aaaaaaaa"),
]


@pytest.mark.parametrize(("fields", "since", "older"), POLICY_FIELDS)
def test_policy_field_on_too_old_harbor_names_field_and_both_versions(harbor_state, harbor, relay, fields, since,
                                                                      older):
    harbor_state.harbor_version = older
    policy = ReplicationPolicy(name="p", dest_registry=Registry(id=relay["id"]), **fields)
    with pytest.raises(UnsupportedByHarborVersion) as err:
        harbor.replication_policies.create(policy)
    (field,) = fields
    assert (err.value.field, err.value.required, err.value.actual) == (field, since, str(parse_version(older)))
    assert field in str(err.value) and since in str(err.value) and str(parse_version(older)) in str(err.value)
    assert not harbor_state.policies


@pytest.mark.parametrize(("fields", "since", "older"), POLICY_FIELDS)
def test_policy_field_is_sent_from_its_release_on(harbor_double, harbor_state, harbor, relay, fields, since, older):
    harbor_state.harbor_version = f"v{since}-bbbbbbbb"
    harbor.replication_policies.create(ReplicationPolicy(name="p", dest_registry=Registry(id=relay["id"]), **fields))
    (field, value), = fields.items()
    assert harbor_double.last("POST", "/replication/policies").body[field] == value


def test_unset_gated_fields_are_left_out_on_an_old_harbor(harbor_double, harbor_state, harbor, relay):
    harbor_state.harbor_version = "v2.2.0-cccccccc"
    harbor.replication_policies.create(ReplicationPolicy(name="p", dest_registry=Registry(id=relay["id"])))
    sent = harbor_double.last("POST", "/replication/policies").body
    assert not {"dest_namespace_replace_count", "speed", "copy_by_chunk", "single_active_replication"} & set(sent)
    # The double plays 2.2 and records any field that Harbor would have dropped; none arrived.
    assert harbor_double.count("POST", "/replication/policies") == 1


def test_version_is_fetched_once_and_only_when_a_gated_field_is_set(harbor_double, harbor, relay):
    harbor.replication_policies.create(ReplicationPolicy(name="a", dest_registry=Registry(id=relay["id"])))
    assert harbor_double.count("GET", "/systeminfo") == 0
    for name in ("b", "c"):
        harbor.replication_policies.create(ReplicationPolicy(name=name, dest_registry=Registry(id=relay["id"]),
                                                             speed=8))
    assert harbor_double.count("GET", "/systeminfo") == 1


def test_pinned_version_skips_systeminfo(harbor_double, harbor_state, relay):
    with HarborClient(harbor_double.url, ADMIN, harbor_version="v2.5.0") as client:
        with pytest.raises(UnsupportedByHarborVersion, match="copy_by_chunk needs Harbor 2.7.0"):
            client.replication_policies.create(ReplicationPolicy(name="p", dest_registry=Registry(id=relay["id"]),
                                                                 copy_by_chunk=True))
    assert harbor_double.count("GET", "/systeminfo") == 0


def test_webhook_payload_format_needs_2_8(harbor_state, harbor):
    harbor_state.harbor_version = "v2.7.1-dddddddd"
    target = WebhookTargetObject(address="http://receiver/hook", payload_format="CloudEvents")
    with pytest.raises(UnsupportedByHarborVersion, match=r"payload_format needs Harbor 2\.8\.0 .* is 2\.7\.1"):
        harbor.webhook_policies.create("library", WebhookPolicy(name="w", event_types=["REPLICATION"],
                                                                targets=[target]))
    target.payload_format = None
    harbor.webhook_policies.create("library", WebhookPolicy(name="w", event_types=["REPLICATION"], targets=[target]))
    assert len(harbor_state.webhook_policies) == 1


@pytest.mark.parametrize("call", [
    lambda c, rid: c.registries.create(Registry(name="r2", url="https://r2", type="docker-registry",
                                                ca_certificate="PEM")),
    lambda c, rid: c.registries.update(rid, RegistryUpdate(ca_certificate="PEM")),
    lambda c, rid: c.registries.ping(RegistryPing(id=rid, ca_certificate="PEM")),
])
def test_registry_ca_certificate_needs_2_15(harbor_double, harbor_state, harbor, relay, call):
    harbor_state.harbor_version = "v2.14.2-eeeeeeee"
    with pytest.raises(UnsupportedByHarborVersion, match="ca_certificate needs Harbor 2.15.0"):
        call(harbor, relay["id"])
    assert harbor_double.writes() == 0


def test_unknown_version_is_not_gated():
    check_fields("ReplicationPolicy", {"speed": 1, "copy_by_chunk": True}, None)
    with pytest.raises(UnsupportedByHarborVersion):
        check_fields("ReplicationPolicy", {"speed": 1}, HarborVersion(2, 3, 9))


def test_the_double_itself_flags_a_field_its_version_would_drop(harbor_double, harbor_state, relay):
    # Proves the oracle: a client that skipped gating would be caught even without our own check.
    harbor_state.harbor_version = "v2.3.0-ffffffff"
    with HarborClient(harbor_double.url, ADMIN, harbor_version="v2.16.0") as lying_client:
        with pytest.raises(BadRequest, match="speed"):
            lying_client.replication_policies.create(ReplicationPolicy(name="p", dest_registry=Registry(id=relay["id"]),
                                                                       speed=8))
    (violation,) = harbor_double.take_violations()
    assert "'speed' needs Harbor 2.4" in violation.message
