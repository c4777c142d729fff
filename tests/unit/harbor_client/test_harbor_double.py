"""The double is strict: it names contract violations, and reproduces Harbor's headers and quirks."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.doubles.harbor import ADMIN, HarborDouble
from tests.doubles.harbor.swagger import SPEC_PATH, SPEC_SHA256


def _api(double: HarborDouble, path: str) -> str:
    return double.url + "/api/v2.0" + path


def test_vendored_swagger_is_the_documented_one():
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def test_invalid_body_is_a_400_and_a_named_violation(harbor_double):
    answer = requests.post(_api(harbor_double, "/replication/policies"), auth=ADMIN,
                           json={"name": "p", "speed": "fast", "replicate_deletions": True})
    assert answer.status_code == 400
    violations = harbor_double.take_violations()
    messages = [v.message for v in violations]
    assert all(v.path == "/api/v2.0/replication/policies" and v.method == "POST" for v in violations)
    assert any("'replicate_deletions' was unexpected" in m and "additionalProperties" in m for m in messages)
    assert any("$['speed']" in m and "'fast' is not of type 'integer'" in m and "properties/speed/type" in m
               for m in messages)


def test_assert_no_violations_fails_the_test_with_the_details(harbor_double):
    requests.get(_api(harbor_double, "/registries"), params={"page_size": 500, "pagesize": 5}, auth=ADMIN)
    with pytest.raises(AssertionError) as err:
        harbor_double.assert_no_violations()
    text = str(err.value)
    assert "GET /api/v2.0/registries" in text and "500 is greater than the maximum of 100" in text
    assert "query parameter pagesize: not a parameter of this operation" in text
    harbor_double.take_violations()


@pytest.mark.parametrize(("method", "path", "kwargs", "needle"), [
    ("POST", "/registries", {"data": "name=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     "Content-Type"),
    ("POST", "/registries", {}, "body is required"),
    ("PUT", "/replication/executions/1", {"json": {"stop": True}}, "takes no body"),
    ("GET", "/registries/abc", {}, "'abc' is not of type integer"),
    ("GET", "/ping", {"headers": {"Accept": "application/json"}}, "matches none of ['text/plain']"),
    ("GET", "/projects/library", {"headers": {"X-Is-Resource-Name": "yes"}}, "X-Is-Resource-Name"),
    ("GET", "/replication/policies", {"params": {"page": "x"}}, "'x' is not of type integer"),
    ("GET", "/replication/policies", {"params": [("page", "1"), ("page", "2")]}, "given more than once"),
    ("GET", "/registries/1/missing-route", {}, "no GET route"),
])
def test_request_violations(harbor_double, method, path, kwargs, needle):
    answer = requests.request(method, _api(harbor_double, path), auth=ADMIN, **kwargs)
    assert answer.status_code in (400, 404)
    assert any(needle in v.message for v in harbor_double.take_violations())


def test_anonymous_calls_are_401_but_ping_and_systeminfo_answer(harbor_double):
    assert requests.get(_api(harbor_double, "/registries")).status_code == 401
    assert requests.get(_api(harbor_double, "/ping"), headers={"Accept": "text/plain"}).text == "Pong"
    assert "harbor_version" not in requests.get(_api(harbor_double, "/systeminfo")).json()


def test_headers_harbor_always_sends(harbor_double, harbor_state):
    harbor_state.add_registry("r1")
    answer = requests.get(_api(harbor_double, "/registries"), auth=ADMIN, headers={"X-Request-Id": "abc-123"})
    assert answer.headers["X-Request-Id"] == "abc-123"
    assert answer.headers["X-Total-Count"] == "1"
    assert {"sid", "_gorilla_csrf"} <= set(answer.cookies.keys())
    generated = requests.get(_api(harbor_double, "/ping"), headers={"Accept": "text/plain"})
    assert len(generated.headers["X-Request-Id"]) == 32


def test_link_header_has_harbors_exact_shape(harbor_double, harbor_state):
    for i in range(5):
        harbor_state.add_registry(f"r{i}")
    answer = requests.get(_api(harbor_double, "/registries"), auth=ADMIN,
                          params={"page": 2, "page_size": 2, "q": "name=~r"})
    assert answer.headers["Link"] == ('</api/v2.0/registries?page=1&page_size=2&q=name=~r>; rel="prev" , '
                                      '</api/v2.0/registries?page=3&page_size=2&q=name=~r>; rel="next"')
    assert [r["name"] for r in answer.json()] == ["r2", "r3"]


def test_location_header_on_create(harbor_double):
    answer = requests.post(_api(harbor_double, "/registries"), auth=ADMIN,
                           json={"name": "r", "url": "https://r.example.com", "type": "docker-registry"})
    assert answer.status_code == 201 and answer.headers["Location"] == "/api/v2.0/registries/1"
    assert answer.content == b""


def test_replicate_deletion_alone_is_ignored_like_harbor_does(harbor_double, harbor_state):
    registry = harbor_state.add_registry("relay")
    answer = requests.post(_api(harbor_double, "/replication/policies"), auth=ADMIN,
                           json={"name": "p", "dest_registry": {"id": registry["id"]}, "replicate_deletion": True})
    assert answer.status_code == 201
    assert harbor_state.policies[1]["deletion"] is False
    shown = requests.get(_api(harbor_double, "/replication/policies/1"), auth=ADMIN).json()
    # false booleans are omitted by go-swagger, so neither flag is in the answer
    assert "deletion" not in shown and "replicate_deletion" not in shown


def test_webhook_enabled_defaults_to_false_like_harbor(harbor_double, harbor_state):
    answer = requests.post(_api(harbor_double, "/projects/library/webhook/policies"), auth=ADMIN,
                           headers={"X-Is-Resource-Name": "true"},
                           json={"name": "w", "event_types": ["REPLICATION"],
                                 "targets": [{"type": "http", "address": "http://r/"}]})
    assert answer.status_code == 201
    assert harbor_state.webhook_policies[1]["enabled"] is False
    shown = requests.get(_api(harbor_double, "/projects/1/webhook/policies/1"), auth=ADMIN).json()
    assert shown["enabled"] is False  # x-omitempty: false, so it is shown even when false


def test_a_crashing_view_is_a_violation(harbor_double, harbor_state):
    harbor_state.policies[1] = {"id": 1}  # a broken record: rendering it fails
    answer = requests.get(_api(harbor_double, "/replication/policies"), auth=ADMIN)
    assert answer.status_code == 500
    assert answer.json() == {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}
    (violation,) = harbor_double.take_violations()
    assert violation.kind == "crash" and "KeyError" in violation.message


def test_an_invalid_answer_of_the_double_is_a_violation(harbor_double, harbor_state):
    harbor_state.add_registry("r", insecure="yes")
    requests.get(_api(harbor_double, "/registries/1"), auth=ADMIN)
    (violation,) = harbor_double.take_violations()
    assert violation.kind == "response" and "'yes' is not of type 'boolean'" in violation.message


def test_writes_are_counted(harbor_double, harbor_state):
    registry = harbor_state.add_registry("r")
    requests.get(_api(harbor_double, "/registries/1"), auth=ADMIN)
    requests.put(_api(harbor_double, "/registries/1"), auth=ADMIN, json={"description": "d"})
    requests.delete(_api(harbor_double, "/registries/1"), auth=ADMIN)
    assert harbor_double.writes() == 2 and harbor_double.count("GET") == 1
    assert harbor_double.count("PUT", "/registries/{id}") == 1 and registry["id"] not in harbor_state.registries
