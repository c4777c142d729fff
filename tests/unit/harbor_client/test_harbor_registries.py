"""Registries against the double: list, get, create, update, delete, ping, get_by_name."""

from __future__ import annotations

import pytest

from harbor_client import (
    BadRequest,
    NotFound,
    Registry,
    RegistryCredential,
    RegistryPing,
    RegistryUpdate,
)


def _relay(**overrides) -> Registry:
    fields = {"name": "relay", "url": "https://relay.example.com/", "type": "docker-registry",
              "description": "python relay",
              "credential": RegistryCredential(access_key="harbor", access_secret="s3cret"), **overrides}
    return Registry(**fields)


def test_create_returns_the_id_from_location(harbor_double, harbor_state, harbor):
    new_id = harbor.registries.create(_relay())
    stored = harbor_state.registries[new_id]
    assert stored["url"] == "https://relay.example.com"  # normalised by Harbor
    assert stored["credential"] == {"type": "basic", "access_key": "harbor", "access_secret": "s3cret"}
    sent = harbor_double.last("POST", "/registries").body
    assert sent == {"name": "relay", "url": "https://relay.example.com/", "type": "docker-registry",
                    "description": "python relay", "insecure": False,
                    "credential": {"type": "basic", "access_key": "harbor", "access_secret": "s3cret"}}


def test_get_masks_the_secret_and_defaults_omitted_fields(harbor, relay):
    got = harbor.registries.get(relay["id"])
    assert (got.id, got.name, got.type, got.status) == (relay["id"], "relay", "docker-registry", "healthy")
    assert got.credential.access_key == "harbor" and got.credential.access_secret == "*****"
    assert got.insecure is False and got.creation_time is not None
    assert "s3cret" not in repr(got)


def test_get_missing_is_not_found(harbor):
    with pytest.raises(NotFound):
        harbor.registries.get(404)


def test_list_and_get_by_name(harbor_state, harbor):
    for name in ("b-relay", "a-relay", "swr"):
        harbor_state.add_registry(name)
    assert [r.name for r in harbor.registries.list()] == ["b-relay", "a-relay", "swr"]
    assert harbor.registries.get_by_name("swr").id == 3
    assert harbor.registries.get_by_name("nope") is None


def test_update_sends_flat_registry_update(harbor_double, harbor_state, harbor, relay):
    harbor.registries.update(relay["id"], RegistryUpdate(description="now SWR", access_secret="n3w"))
    assert harbor_double.last("PUT", "/registries/{id}").body == {"description": "now SWR", "access_secret": "n3w"}
    stored = harbor_state.registries[relay["id"]]
    assert stored["description"] == "now SWR" and stored["credential"]["access_secret"] == "n3w"
    assert stored["url"] == "https://relay.example.com"  # untouched fields are kept (merge)


def test_update_refuses_to_send_back_the_masked_secret(harbor_double, harbor, relay):
    masked = harbor.registries.get(relay["id"]).credential.access_secret
    with pytest.raises(ValueError, match="masked"):
        harbor.registries.update(relay["id"], RegistryUpdate(access_secret=masked))
    with pytest.raises(ValueError, match="masked"):
        harbor.registries.create(harbor.registries.get(relay["id"]))
    assert harbor_double.writes() == 0


def test_update_of_missing_registry_is_not_found(harbor):
    with pytest.raises(NotFound, match="registry 0 not found"):
        harbor.registries.update(0, RegistryUpdate(description="x"))


def test_delete(harbor_state, harbor, relay):
    harbor.registries.delete(relay["id"])
    assert relay["id"] not in harbor_state.registries
    with pytest.raises(NotFound):
        harbor.registries.delete(relay["id"])


def test_ping_stored_and_prospective(harbor_double, harbor_state, harbor, relay):
    harbor.registries.ping(RegistryPing(id=relay["id"]))
    harbor.registries.ping(RegistryPing(type="huawei-SWR", url="https://swr.example.com", access_key="ak",
                                        access_secret="sk", insecure=False))
    assert harbor_double.last("POST", "/registries/ping").body == {
        "type": "huawei-SWR", "url": "https://swr.example.com", "access_key": "ak", "access_secret": "sk",
        "insecure": False}
    harbor_state.unhealthy_urls.add("https://relay.example.com")
    with pytest.raises(BadRequest, match="unhealthy"):
        harbor.registries.ping(RegistryPing(id=relay["id"]))


def test_ping_without_type_or_url(harbor):
    with pytest.raises(BadRequest, match="type or url cannot be empty"):
        harbor.registries.ping(RegistryPing(url="https://relay.example.com"))


def test_huawei_swr_is_healthy_without_a_call(harbor_state, harbor):
    # Harbor's huawei-SWR health check is a no-op, so even an unreachable URL is accepted.
    harbor_state.unhealthy_urls.add("https://swr.example.com")
    new_id = harbor.registries.create(_relay(name="swr", type="huawei-SWR", url="https://swr.example.com"))
    assert harbor.registries.get(new_id).status == "healthy"
