"""Every error status maps onto the exception tree with its codes, messages and request id."""

from __future__ import annotations

import pytest

from harbor_client import (
    BadRequest,
    Conflict,
    Forbidden,
    HarborError,
    HarborHTTPError,
    NotFound,
    PreconditionFailed,
    Registry,
    RegistryPing,
    ReplicationPolicy,
    ReplicationTrigger,
    ServerError,
    Unauthorized,
    WebhookPolicy,
    WebhookTargetObject,
)

MAPPING = [
    (400, "BAD_REQUEST", BadRequest),
    (401, "UNAUTHORIZED", Unauthorized),
    (403, "FORBIDDEN", Forbidden),
    (404, "NOT_FOUND", NotFound),
    (409, "CONFLICT", Conflict),
    (412, "PRECONDITION", PreconditionFailed),
    (500, "UNKNOWN", ServerError),
    (502, "UNKNOWN", ServerError),
    (503, "UNKNOWN", ServerError),
    (504, "UNKNOWN", ServerError),
    (405, "METHOD_NOT_ALLOWED", HarborHTTPError),
    (429, "TOO_MANY_REQUEST", HarborHTTPError),
]


@pytest.mark.parametrize(("status", "code", "cls"), MAPPING)
def test_status_maps_to_exception(harbor_double, harbor, status, code, cls):
    harbor_double.fail("POST", "/registries/ping", status,
                       body={"errors": [{"code": code, "message": f"said {status}"}]})
    with pytest.raises(cls) as err:
        harbor.registries.ping(RegistryPing(type="docker-registry", url="https://relay.example.com"))
    error = err.value
    assert type(error) is cls and isinstance(error, HarborHTTPError) and isinstance(error, HarborError)
    assert (error.status, error.codes, error.messages) == (status, [code], [f"said {status}"])
    assert error.request_id == harbor_double.last("POST", "/registries/ping").headers["X-Request-Id"]
    assert error.method == "POST" and error.url.endswith("/api/v2.0/registries/ping")


def test_several_errors_are_all_kept(harbor_double, harbor):
    harbor_double.fail("GET", "/registries/{id}", 400, body={"errors": [{"code": "BAD_REQUEST", "message": "a"},
                                                                         {"code": "BAD_REQUEST", "message": "b"}]})
    with pytest.raises(BadRequest) as err:
        harbor.registries.get(1)
    assert err.value.messages == ["a", "b"] and "BAD_REQUEST: a; BAD_REQUEST: b" in str(err.value)


def test_a_non_json_error_body_from_a_proxy_is_kept_as_text(harbor_double, harbor):
    harbor_double.fail("POST", "/registries/ping", 502, body="<html><h1>502 Bad Gateway</h1></html>",
                       headers={"Content-Type": "text/html"})
    with pytest.raises(ServerError) as err:
        harbor.registries.ping(RegistryPing(type="docker-registry", url="https://relay.example.com"))
    assert err.value.status == 502 and "502 Bad Gateway" in err.value.messages[0]


# The same mapping from the double's own behaviour rather than injected answers.

def test_natural_404(harbor):
    with pytest.raises(NotFound, match="replication execution 42 not found"):
        harbor.executions.get(42)


def test_natural_400_unhealthy_registry(harbor_state, harbor):
    harbor_state.unhealthy_urls.add("https://down.example.com")
    with pytest.raises(BadRequest, match="the registry is unhealthy"):
        harbor.registries.create(Registry(name="down", url="https://down.example.com", type="docker-registry"))


def test_natural_409_duplicate_registry_name(harbor, relay):
    with pytest.raises(Conflict, match="registry relay already exists"):
        harbor.registries.create(Registry(name="relay", url="https://other.example.com", type="docker-registry"))


def test_natural_409_duplicate_webhook_name_across_projects(harbor_state, harbor):
    harbor_state.add_project("other")
    policy = WebhookPolicy(name="hook", event_types=["REPLICATION"], targets=[WebhookTargetObject(address="http://r/")])
    harbor.webhook_policies.create("library", policy)
    with pytest.raises(Conflict):
        harbor.webhook_policies.create("other", policy)


def test_natural_412_registry_still_used_by_a_policy(harbor_state, harbor, relay):
    harbor_state.add_policy("uses-relay", dest_registry_id=relay["id"])
    with pytest.raises(PreconditionFailed) as err:
        harbor.registries.delete(relay["id"])
    assert err.value.codes == ["PRECONDITION"]
    assert relay["id"] in harbor_state.registries


def test_natural_500_single_active_with_event_trigger(harbor, relay):
    policy = ReplicationPolicy(name="p", dest_registry=Registry(id=relay["id"]), single_active_replication=True,
                               trigger=ReplicationTrigger(type="event_based"))
    with pytest.raises(ServerError) as err:
        harbor.replication_policies.create(policy)
    assert (err.value.codes, err.value.messages) == (["UNKNOWN"], ["internal server error"])
