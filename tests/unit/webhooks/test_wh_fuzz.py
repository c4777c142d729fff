"""Hypothesis: no body, however malformed, gets a 5xx from the intake; valid ones still get a 2xx."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.webhooks import payloads
from tests.unit.webhooks.helpers import API_TOKEN, post

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["\x00", "\ud800", "Running", "Success", "Error", "REPLICATION", "1.0", ""]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=20)
templates = st.sampled_from([payloads.default("Success"), payloads.default("Error"), payloads.default("Running"),
                             payloads.cloudevent("Error"), payloads.push_artifact()])
content_types = st.sampled_from(["application/json", "application/cloudevents+json", "text/plain", ""])


def paths(doc, prefix=()):
    """Every key path in a nested dict, so a mutation can land anywhere."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, prefix + (i,))
    return found


def broken(template, data, value, drop: bool):
    """A copy of the template with one field, drawn at any depth, dropped or set to `value`."""
    doc = copy.deepcopy(template)
    path = data.draw(st.sampled_from(paths(doc)))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def check(client, body, content_type="application/json"):
    resp = post(client, body, content_type=content_type)
    assert resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.is_json
    return resp


@FUZZ
@given(body=st.binary(max_size=300), content_type=content_types)
def test_random_bytes(client, body, content_type):
    check(client, body, content_type)


@FUZZ
@given(value=json_values, content_type=content_types)
def test_random_json(client, value, content_type):
    check(client, json.dumps(value), content_type)


@FUZZ
@given(template=templates, data=st.data(), value=json_values, drop=st.booleans())
def test_valid_payloads_with_one_field_broken(client, template, data, value, drop):
    check(client, json.dumps(broken(template, data, value, drop)))


@FUZZ
@given(execution_id=st.integers(1, 2**63 - 1), task_id=st.integers(1, 2**63 - 1),
       occur_at=st.integers(0, 2**63 - 1), status=st.sampled_from(["Running", "Success", "Error", "Stopped"]),
       text=st.text(max_size=60).filter(lambda s: "\x00" not in s))
def test_valid_payloads_with_extreme_values_are_accepted(client, execution_id, task_id, occur_at, status, text):
    doc = payloads.default(status, execution_id=execution_id, task_id=task_id, occur_at=occur_at, description=text,
                           repo=text or "r")
    resp = check(client, json.dumps(doc))
    assert resp.status_code == 200, resp.json


@FUZZ
@given(endpoint=st.sampled_from(["/executions", "/events", "/deliveries"]),
       query=st.dictionaries(st.sampled_from(["status", "state", "limit", "offset", "execution_id", "event_type",
                                              "sink", "other"]),
                             st.one_of(st.text(max_size=20), st.integers(-(2**70), 2**70).map(str)), max_size=4))
def test_api_queries_never_get_a_5xx(client, endpoint, query):
    resp = client.get(f"/api/v1{endpoint}", query_string=query, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)
