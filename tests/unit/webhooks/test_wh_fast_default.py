"""The hand-written path for common Default payloads accepts only what DefaultSchema accepts, with equal results."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from adapter.webhooks import schemas
from tests.unit.webhooks import harbor_versions as hv
from tests.unit.webhooks import payloads
from tests.unit.webhooks.test_wh_fuzz import broken, json_values

TEMPLATES = [payloads.default("Success"), payloads.default("Error"), payloads.default("Running"),
             payloads.default("Stopped", mode="pull"), payloads.push_artifact()]
# Every Harbor family's payloads (no ids before 2.13, no references before 2.10, 1,001 references).
VERSIONS = [hv.default(family, "app2", status, 5) for family in hv.FAMILIES for status in ("Success", "Error")] + [
    hv.default("2.13", "big", "Error", 5, refs=[f"v{n}" for n in range(1001)])]


def both(doc: dict):
    """(fast result or 'refer', marshmallow result or 'invalid') for one document."""
    body = json.dumps(doc).encode()
    try:
        fast = schemas._fast_default(doc, body)
    except schemas._Refer:
        fast = "refer"
    try:
        slow = schemas._marshmallow_default(doc, body)
    except ValidationError:
        slow = "invalid"
    return fast, slow


@pytest.mark.parametrize("doc", TEMPLATES[:4])
def test_the_common_payloads_take_the_fast_path_with_the_same_event(doc):
    fast, slow = both(doc)
    assert fast != "refer" and fast == slow


@pytest.mark.parametrize("doc", VERSIONS)
def test_every_harbor_familys_payload_takes_the_fast_path_with_the_same_event(doc):
    fast, slow = both(doc)
    assert fast != "refer" and fast == slow


def test_a_minimal_replication_payload_gets_the_defaults():
    doc = {"type": "REPLICATION", "occur_at": 5,
           "event_data": {"replication": {"job_status": "Running", "execution_id": 1, "task_id": 2}}}
    fast, slow = both(doc)
    assert fast != "refer" and fast == slow


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(occur_at=True), lambda d: d.update(occur_at=1.0), lambda d: d.update(operator=None),
    lambda d: d.update(operator="é"), lambda d: d["event_data"]["replication"].update(override_mode=1),
    lambda d: d["event_data"]["replication"].update(execution_id=2**63),
    lambda d: d["event_data"]["replication"].update(task_id=0),
    lambda d: d["event_data"]["replication"].update(src_resource=None),
    lambda d: d["event_data"]["replication"]["successful_artifact"][0].pop("name_tag"),
    lambda d: d["event_data"]["replication"]["successful_artifact"][0].update(references=["a\x00"]),
    lambda d: d.update(type="PUSH_ARTIFACT"),
])
def test_anything_unusual_is_left_to_marshmallow(mutate):
    doc = copy.deepcopy(payloads.default("Success"))
    mutate(doc)
    assert both(doc)[0] == "refer"


@settings(max_examples=400, deadline=None)
@given(template=st.sampled_from(TEMPLATES), data=st.data(), value=json_values, drop=st.booleans())
def test_one_field_broken_never_makes_the_two_disagree(template, data, value, drop):
    fast, slow = both(broken(template, data, value, drop))
    if fast != "refer":
        assert fast == slow
