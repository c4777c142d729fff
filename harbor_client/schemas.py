"""Marshmallow schemas mirroring the swagger definitions; unknown fields are kept, never dropped."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Any, ClassVar

from marshmallow import INCLUDE, Schema, fields, post_dump, post_load, pre_load

from harbor_client import models as m


class _ModelSchema(Schema):
    """Loads into `model`, with the fields it does not declare in `extra`; dumps back without None values.

    Server-assigned fields (ids, times, status, creator) are `load_only`: Harbor ignores them in a body
    or takes them from the path, so they are never sent.
    """

    class Meta:
        unknown = INCLUDE

    model: ClassVar[type]

    @post_load
    def _to_model(self, data: dict[str, Any], **_: Any) -> Any:
        names = {f.name for f in dataclass_fields(self.model)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k not in self.fields}
        return self.model(**known, extra=extra)

    @post_dump(pass_original=True)
    def _finish(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        # Harbor ignores JSON nulls only sometimes; an unset field is simply not sent.
        merged = {**getattr(original, "extra", {}), **data}
        return self.complete({k: v for k, v in merged.items() if v is not None}, original)

    def complete(self, data: dict[str, Any], original: Any) -> dict[str, Any]:
        """Hook for fields that must always be sent explicitly."""
        return data


class RegistryCredentialSchema(_ModelSchema):
    model = m.RegistryCredential
    type = fields.String(load_default="basic")
    access_key = fields.String(load_default=None)
    access_secret = fields.String(load_default=None)


class RegistrySchema(_ModelSchema):
    model = m.Registry
    id = fields.Integer(load_default=None, load_only=True)
    name = fields.String(load_default=None)
    url = fields.String(load_default=None)
    type = fields.String(load_default=None)
    credential = fields.Nested(RegistryCredentialSchema, load_default=None)
    # go-swagger omits false booleans and empty strings from answers: absent means false / empty.
    insecure = fields.Boolean(load_default=False)
    ca_certificate = fields.String(load_default=None, allow_none=True)
    description = fields.String(load_default=None)
    status = fields.String(load_default=None, load_only=True)
    creation_time = fields.DateTime(load_default=None, load_only=True)
    update_time = fields.DateTime(load_default=None, load_only=True)


class _FlatRegistrySchema(_ModelSchema):
    """The flat connection fields RegistryUpdate and RegistryPing share (no nested `credential`)."""

    url = fields.String(allow_none=True)
    credential_type = fields.String(allow_none=True)
    access_key = fields.String(allow_none=True)
    access_secret = fields.String(allow_none=True)
    insecure = fields.Boolean(allow_none=True)
    ca_certificate = fields.String(allow_none=True)


class RegistryUpdateSchema(_FlatRegistrySchema):
    model = m.RegistryUpdate
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)


class RegistryPingSchema(_FlatRegistrySchema):
    model = m.RegistryPing
    id = fields.Integer(allow_none=True)
    type = fields.String(allow_none=True)


class _RegistryRef(fields.Nested):
    """A policy's src/dest registry: loaded whole, sent as `{"id": N}` (the only part Harbor reads)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        registry_id = value if isinstance(value, int) else value.id
        if registry_id is None:
            raise ValueError(f"{attr} needs a registry id, got {value!r}")
        return {"id": registry_id}


class ReplicationTriggerSettingsSchema(_ModelSchema):
    model = m.ReplicationTriggerSettings
    cron = fields.String(load_default=None)


class ReplicationTriggerSchema(_ModelSchema):
    model = m.ReplicationTrigger
    type = fields.String(load_default="manual")
    trigger_settings = fields.Nested(ReplicationTriggerSettingsSchema, load_default=None)


class ReplicationFilterSchema(_ModelSchema):
    model = m.ReplicationFilter
    type = fields.String(required=True)
    value = fields.Raw(load_default=None)
    decoration = fields.String(load_default=None)


class ReplicationPolicySchema(_ModelSchema):
    model = m.ReplicationPolicy
    id = fields.Integer(load_default=None, load_only=True)
    name = fields.String(load_default=None)
    description = fields.String(load_default=None)
    src_registry = _RegistryRef(RegistrySchema, load_default=None, allow_none=True)
    dest_registry = _RegistryRef(RegistrySchema, load_default=None, allow_none=True)
    dest_namespace = fields.String(load_default=None)
    dest_namespace_replace_count = fields.Integer(load_default=None, allow_none=True)
    trigger = fields.Nested(ReplicationTriggerSchema, load_default=None)
    filters = fields.List(fields.Nested(ReplicationFilterSchema), load_default=None)
    replicate_deletion = fields.Boolean(load_default=False)
    deletion = fields.Boolean(load_only=True)
    override = fields.Boolean(load_default=False)
    enabled = fields.Boolean(load_default=False)
    speed = fields.Integer(load_default=None, allow_none=True)
    copy_by_chunk = fields.Boolean(load_default=None, allow_none=True)
    single_active_replication = fields.Boolean(load_default=None, allow_none=True)
    creation_time = fields.DateTime(load_default=None, load_only=True)
    update_time = fields.DateTime(load_default=None, load_only=True)

    @pre_load
    def _deletion_wins(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # Harbor stores what `deletion` said (it never reads `replicate_deletion`), so that is the truth.
        if isinstance(data, dict) and "deletion" in data:
            data = {**data, "replicate_deletion": data["deletion"]}
        return data

    def complete(self, data: dict[str, Any], original: Any) -> dict[str, Any]:
        # PUT replaces the whole policy and an omitted boolean becomes false: send them all, always.
        flags = {name: bool(getattr(original, name)) for name in ("override", "enabled", "replicate_deletion")}
        return {**data, **flags, "deletion": flags["replicate_deletion"]}


class ReplicationExecutionSchema(_ModelSchema):
    model = m.ReplicationExecution
    id = fields.Integer(required=True)
    policy_id = fields.Integer(load_default=None)
    status = fields.String(load_default=None)
    trigger = fields.String(load_default=None)
    start_time = fields.DateTime(load_default=None)
    end_time = fields.DateTime(load_default=None)
    status_text = fields.String(load_default="")
    total = fields.Integer(load_default=0)
    failed = fields.Integer(load_default=0)
    succeed = fields.Integer(load_default=0)
    in_progress = fields.Integer(load_default=0)
    stopped = fields.Integer(load_default=0)


class ReplicationTaskSchema(_ModelSchema):
    model = m.ReplicationTask
    id = fields.Integer(required=True)
    execution_id = fields.Integer(load_default=None)
    status = fields.String(load_default=None)
    job_id = fields.String(load_default=None)
    operation = fields.String(load_default=None)
    resource_type = fields.String(load_default=None)
    src_resource = fields.String(load_default=None)
    dst_resource = fields.String(load_default=None)
    start_time = fields.DateTime(load_default=None)
    end_time = fields.DateTime(load_default=None)


class WebhookTargetObjectSchema(_ModelSchema):
    model = m.WebhookTargetObject
    type = fields.String(load_default="http")
    address = fields.String(load_default=None)
    auth_header = fields.String(load_default=None)
    skip_cert_verify = fields.Boolean(load_default=False)
    payload_format = fields.String(load_default=None)


class WebhookPolicySchema(_ModelSchema):
    model = m.WebhookPolicy
    id = fields.Integer(load_default=None, load_only=True)
    name = fields.String(load_default=None)
    description = fields.String(load_default=None)
    project_id = fields.Integer(load_default=None, load_only=True)
    targets = fields.List(fields.Nested(WebhookTargetObjectSchema), load_default=list)
    event_types = fields.List(fields.String(), load_default=list)
    creator = fields.String(load_default=None, load_only=True)
    enabled = fields.Boolean(load_default=False)
    creation_time = fields.DateTime(load_default=None, load_only=True)
    update_time = fields.DateTime(load_default=None, load_only=True)

    def complete(self, data: dict[str, Any], original: Any) -> dict[str, Any]:
        # An omitted `enabled` is stored as false and the webhook never fires.
        return {**data, "enabled": bool(original.enabled)}


class ProjectSchema(_ModelSchema):
    model = m.Project
    project_id = fields.Integer(required=True)
    name = fields.String(required=True)
    owner_id = fields.Integer(load_default=None)
    owner_name = fields.String(load_default=None)
    registry_id = fields.Integer(load_default=None)
    repo_count = fields.Integer(load_default=0)
    deleted = fields.Boolean(load_default=False)
    metadata = fields.Dict(load_default=dict)
    creation_time = fields.DateTime(load_default=None)
    update_time = fields.DateTime(load_default=None)


class GeneralInfoSchema(_ModelSchema):
    model = m.GeneralInfo
    harbor_version = fields.String(load_default=None, allow_none=True)
    external_url = fields.String(load_default=None, allow_none=True)
    registry_url = fields.String(load_default=None, allow_none=True)
    auth_mode = fields.String(load_default=None, allow_none=True)
    read_only = fields.Boolean(load_default=None, allow_none=True)
    notification_enable = fields.Boolean(load_default=None, allow_none=True)
    current_time = fields.DateTime(load_default=None, allow_none=True)


_SCHEMAS: dict[type, _ModelSchema] = {
    cls.model: cls() for cls in (
        RegistryCredentialSchema, RegistrySchema, RegistryUpdateSchema, RegistryPingSchema,
        ReplicationTriggerSettingsSchema, ReplicationTriggerSchema, ReplicationFilterSchema,
        ReplicationPolicySchema, ReplicationExecutionSchema, ReplicationTaskSchema,
        WebhookTargetObjectSchema, WebhookPolicySchema, ProjectSchema, GeneralInfoSchema,
    )
}


def load(model: type, data: Any) -> Any:
    """Decode one Harbor answer into `model`."""
    return _SCHEMAS[model].load(data)


def dump(obj: Any) -> dict[str, Any]:
    """Encode a model as a request body."""
    return _SCHEMAS[type(obj)].dump(obj)
