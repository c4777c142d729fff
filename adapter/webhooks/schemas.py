"""Marshmallow schemas for Harbor's Default and CloudEvents payloads; `load_event` turns a body into an Event."""

from __future__ import annotations

import json
import time
from datetime import timezone

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from adapter.webhooks.model import (
    CLOUDEVENT_TYPES,
    MAX_REFERENCES,
    RAW_STATUSES,
    Artifact,
    Event,
    Replication,
    Resource,
)

INT64 = validate.Range(min=0, max=2**63 - 1)
ID = validate.Range(min=1, max=2**63 - 1)
REPLICATION_CE_TYPE = "harbor.replication.status.changed"


class PayloadError(ValueError):
    """A body that is not a Harbor event; `messages` holds the field errors."""

    def __init__(self, messages):
        super().__init__("malformed payload")
        self.messages = messages


class Text(fields.String):
    """A string the stores accept: bounded, no NUL (PostgreSQL refuses it), no lone surrogates."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):  # JSON gives str or not a string at all: no bytes to decode
            raise self.make_error("invalid")
        if len(value) > 4096:
            raise ValidationError("longer than 4096 characters")
        if "\x00" in value:
            raise ValidationError("contains NUL")
        if not value.isascii():  # the common case skips the encode below
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError("not valid Unicode") from None
        return value


class _Lenient(Schema):
    # Harbor adds fields between versions; unknown keys are kept in the raw body, not rejected.
    class Meta:
        unknown = EXCLUDE


class ResourceSchema(_Lenient):
    registry_type = Text(load_default="")
    endpoint = Text(load_default="")
    namespace = Text(load_default="")
    registry_name = Text(load_default="")
    provider = Text(load_default="")

    @post_load
    def _make(self, data, **_):
        return Resource(**data)


class ArtifactSchema(_Lenient):
    type = Text(load_default="")
    status = Text(load_default="")
    name_tag = Text(required=True)
    # Not capped: Harbor sends every tag of the repository (harbor.md §5.7); the first MAX_REFERENCES are kept.
    references = fields.List(Text(), load_default=list)
    fail_reason = Text(load_default="")

    @post_load
    def _make(self, data, **_):
        refs = data["references"]
        return Artifact(**{**data, "references": tuple(refs[:MAX_REFERENCES]), "reference_count": len(refs)})


class ReplicationSchema(_Lenient):
    job_status = fields.String(required=True, validate=validate.OneOf(list(RAW_STATUSES)))
    # Harbor sends these two from 2.13 on; before, events are grouped by what they share (model.group_id).
    execution_id = fields.Integer(strict=True, load_default=None, validate=ID)
    task_id = fields.Integer(strict=True, load_default=None, validate=ID)
    harbor_hostname = Text(load_default="")
    description = Text(load_default="")
    artifact_type = Text(load_default="")
    authentication_type = Text(load_default="")
    override_mode = fields.Boolean(load_default=False)
    trigger_type = Text(load_default="")
    policy_creator = Text(load_default="")
    execution_timestamp = fields.Integer(strict=True, load_default=0, validate=INT64)
    src_resource = fields.Nested(ResourceSchema, load_default=Resource)
    dest_resource = fields.Nested(ResourceSchema, load_default=Resource)
    successful_artifact = fields.List(fields.Nested(ArtifactSchema), load_default=list,
                                      validate=validate.Length(max=100))
    failed_artifact = fields.List(fields.Nested(ArtifactSchema), load_default=list, validate=validate.Length(max=100))

    @post_load
    def _make(self, data, **_):
        data["successful_artifact"] = tuple(data["successful_artifact"])
        data["failed_artifact"] = tuple(data["failed_artifact"])
        return Replication(**data)


class EventDataSchema(_Lenient):
    replication = fields.Nested(ReplicationSchema, load_default=None)


class DefaultSchema(_Lenient):
    type = Text(required=True, validate=validate.Length(min=1, max=64))
    occur_at = fields.Integer(strict=True, required=True, validate=INT64)
    operator = Text(load_default="")
    event_data = fields.Nested(EventDataSchema, load_default=dict)

    @validates_schema
    def _replication_has_data(self, data, **_):
        if data.get("type") == "REPLICATION" and not (data.get("event_data") or {}).get("replication"):
            raise ValidationError({"replication": ["Missing data for required field."]}, "event_data")


class CloudEventSchema(_Lenient):
    specversion = fields.String(required=True, validate=validate.Equal("1.0"))
    id = Text(required=True, validate=validate.Length(min=1, max=190))
    source = Text(required=True, validate=validate.Length(min=1))
    type = Text(required=True, validate=validate.Length(min=1, max=128))
    time = fields.DateTime(load_default=None)
    operator = Text(load_default="")
    data = fields.Nested(EventDataSchema, load_default=dict)

    @validates_schema
    def _replication_has_data(self, data, **_):
        if data.get("type") == REPLICATION_CE_TYPE and not (data.get("data") or {}).get("replication"):
            raise ValidationError({"replication": ["Missing data for required field."]}, "data")


def _epoch(moment) -> int:
    if moment is None:
        return int(time.time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        seconds = int(moment.timestamp())
    except (OverflowError, ValueError, OSError):
        seconds = -1
    if seconds < 0:
        raise PayloadError({"time": ["out of range"]})
    return seconds


# One instance each: building a schema (and its nested ones) per request costs more than loading with it.
_DEFAULT, _CLOUDEVENT = DefaultSchema(), CloudEventSchema()


_MAX_ID = 2**63 - 1
_RESOURCE_FIELDS = ("registry_type", "endpoint", "namespace", "registry_name", "provider")
_REPLICATION_TEXT = ("harbor_hostname", "description", "artifact_type", "authentication_type", "trigger_type",
                     "policy_creator")


class _Refer(Exception):
    """The fast path met something it does not vouch for: marshmallow decides, with its messages."""


def _text(doc: dict, name: str) -> str:
    """What `Text(load_default="")` loads, for plain ASCII strings only."""
    value = doc.get(name, "")
    if type(value) is not str or len(value) > 4096 or not value.isascii() or "\x00" in value:
        raise _Refer
    return value


_ABSENT = object()


def _int(doc: dict, name: str, low: int, default=_ABSENT) -> int | None:
    """What a strict `Integer` with a Range(low, 2**63 - 1) loads; a missing one is `default` when allowed."""
    if name not in doc and default is not _ABSENT:
        return default
    value = doc.get(name)
    if type(value) is not int or not low <= value <= _MAX_ID:
        raise _Refer
    return value


def _dict(doc: dict, name: str) -> dict:
    value = doc.get(name)
    if type(value) is not dict:
        raise _Refer
    return value


def _resource(doc: dict, name: str) -> Resource:
    if name not in doc:
        return Resource()
    found = _dict(doc, name)
    return Resource(*(_text(found, f) for f in _RESOURCE_FIELDS))


def _artifacts(doc: dict, name: str) -> tuple[Artifact, ...]:
    found = doc.get(name, [])
    if type(found) is not list or len(found) > 100:
        raise _Refer
    loaded = []
    for item in found:
        if type(item) is not dict or "name_tag" not in item:
            raise _Refer
        refs = item.get("references", [])
        if type(refs) is not list:
            raise _Refer
        kept = tuple(_text({"r": r}, "r") for r in refs)[:MAX_REFERENCES]  # every one is checked, as marshmallow does
        loaded.append(Artifact(_text(item, "type"), _text(item, "status"), _text(item, "name_tag"),
                               kept, _text(item, "fail_reason"), len(refs)))
    return tuple(loaded)


def _fast_default(doc: dict, body: bytes) -> Event:
    """DefaultSchema's result for the common REPLICATION payload, built without marshmallow (~10x cheaper).

    Accepts only what DefaultSchema accepts and builds the same Event; anything unusual (other types, nulls,
    non-ASCII text, a bool where a number goes, ...) raises _Refer so marshmallow gives its answer and
    messages. tests/unit/webhooks/test_wh_fast_default.py holds the two to the same results.
    """
    kind = doc.get("type")
    if kind != "REPLICATION":
        raise _Refer
    occur_at = _int(doc, "occur_at", 0)
    operator = _text(doc, "operator")
    rep = _dict(_dict(doc, "event_data"), "replication")
    job_status = rep.get("job_status")
    if type(job_status) is not str or job_status not in RAW_STATUSES:
        raise _Refer
    override_mode = rep.get("override_mode", False)
    if type(override_mode) is not bool:
        raise _Refer
    texts = {name: _text(rep, name) for name in _REPLICATION_TEXT}
    replication = Replication(
        job_status=job_status, execution_id=_int(rep, "execution_id", 1, None), task_id=_int(rep, "task_id", 1, None),
        override_mode=override_mode, execution_timestamp=_int(rep, "execution_timestamp", 0, 0),
        src_resource=_resource(rep, "src_resource"), dest_resource=_resource(rep, "dest_resource"),
        successful_artifact=_artifacts(rep, "successful_artifact"), failed_artifact=_artifacts(rep, "failed_artifact"),
        **texts)
    return Event("default", kind, occur_at, body, operator, replication)


def _from_default(doc: dict, body: bytes) -> Event:
    try:
        return _fast_default(doc, body)
    except _Refer:
        return _marshmallow_default(doc, body)


def _marshmallow_default(doc: dict, body: bytes) -> Event:
    data = _DEFAULT.load(doc)
    replication = data["event_data"].get("replication") if data["type"] == "REPLICATION" else None
    return Event("default", data["type"], data["occur_at"], body, data["operator"], replication)


def _from_cloudevent(doc: dict, body: bytes) -> Event:
    data = _CLOUDEVENT.load(doc)
    replication = data["data"].get("replication") if data["type"] == REPLICATION_CE_TYPE else None
    event_type = CLOUDEVENT_TYPES.get(data["type"], data["type"])
    return Event("cloudevents", event_type, _epoch(data["time"]), body, data["operator"], replication,
                 ce_id=data["id"], ce_source=data["source"])


def load_event(body: bytes, content_type: str = "") -> Event:
    """Parses and validates one webhook body; raises PayloadError with field errors."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise PayloadError({"_body": ["not valid JSON"]}) from None
    if not isinstance(doc, dict):
        raise PayloadError({"_body": ["a JSON object is required"]})
    cloudevent = "specversion" in doc or content_type.startswith("application/cloudevents+json")
    try:
        return _from_cloudevent(doc, body) if cloudevent else _from_default(doc, body)
    except ValidationError as err:
        raise PayloadError(err.messages) from None
