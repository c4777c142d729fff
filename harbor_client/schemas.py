"""Marshmallow schemas derived from the models' dataclasses (Harbor's fields are written once, in models.py);
unknown fields are kept, never dropped."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Any, ClassVar

from marshmallow import INCLUDE, Schema, fields, post_dump, post_load, pre_load

from harbor_client import models as m


class _ModelSchema(Schema):
    """Loads into `model`, with the fields it does not declare in `extra`; dumps back without None values."""

    class Meta:
        unknown = INCLUDE

    model: ClassVar[type]

    @post_load
    def _to_model(self, data: dict[str, Any], **_: Any) -> Any:
        names = {f.name for f in dataclasses.fields(self.model)} - {"extra"}
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


_SCALARS = {str: fields.String, int: fields.Integer, bool: fields.Boolean, datetime: fields.DateTime}


def _field(hint: Any, field: dataclasses.Field) -> fields.Field:
    """The marshmallow field for one dataclass field. What it loads when absent is the model's default,
    except for a plain bool: go-swagger omits false booleans from answers, so absent means false.
    Server-assigned fields (models.server_set()) are `load_only`: Harbor ignores them in a body or takes
    them from the path, so they are never sent."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    kwargs: dict[str, Any] = {"allow_none": optional or None, "load_only": field.metadata.get("server_set", False)}
    if field.default is not dataclasses.MISSING:
        kwargs["load_default"] = False if hint is bool and not optional else field.default
    elif field.default_factory is not dataclasses.MISSING:
        kwargs["load_default"] = field.default_factory
    else:
        kwargs["required"] = True
    if kwargs["allow_none"] is None:
        del kwargs["allow_none"]
    return _kind(hint)(**kwargs)


def _kind(hint: Any):
    """A factory of the field for a type: scalars, Any, dicts, lists and nested models."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    if hint is Any:
        return fields.Raw
    origin = typing.get_origin(hint)
    if origin is dict:
        return fields.Dict
    if origin is list:
        inner = _kind(typing.get_args(hint)[0])
        return lambda **kw: fields.List(inner(), **kw)
    return lambda **kw: fields.Nested(schema_class(hint), **kw)


_CLASSES: dict[type, type[_ModelSchema]] = {}


def schema_class(model: type, base: type[_ModelSchema] | None = None) -> type[_ModelSchema]:
    """The schema of a model, made from its dataclass fields (`base` adds hooks and fields of its own)."""
    if model not in _CLASSES:
        hints = typing.get_type_hints(model)
        declared = {f.name: _field(hints[f.name], f) for f in dataclasses.fields(model)
                    if f.name != "extra" and (base is None or f.name not in base._declared_fields)}
        _CLASSES[model] = type(f"{model.__name__}Schema", (base or _ModelSchema,), {"model": model, **declared})
    return _CLASSES[model]


class _RegistryRef(fields.Nested):
    """A policy's src/dest registry: loaded whole, sent as `{"id": N}` (the only part Harbor reads)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        registry_id = value if isinstance(value, int) else value.id
        if registry_id is None:
            raise ValueError(f"{attr} needs a registry id, got {value!r}")
        return {"id": registry_id}


class _ReplicationPolicySchema(_ModelSchema):
    src_registry = _RegistryRef(lambda: schema_class(m.Registry)(), load_default=None, allow_none=True)
    dest_registry = _RegistryRef(lambda: schema_class(m.Registry)(), load_default=None, allow_none=True)
    deletion = fields.Boolean(load_only=True)

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


class _WebhookPolicySchema(_ModelSchema):
    def complete(self, data: dict[str, Any], original: Any) -> dict[str, Any]:
        # An omitted `enabled` is stored as false and the webhook never fires.
        return {**data, "enabled": bool(original.enabled)}


schema_class(m.ReplicationPolicy, _ReplicationPolicySchema)
schema_class(m.WebhookPolicy, _WebhookPolicySchema)
_SCHEMAS: dict[type, _ModelSchema] = {}


def load(model: type, data: Any) -> Any:
    """Decode one Harbor answer into `model`."""
    if model not in _SCHEMAS:
        _SCHEMAS[model] = schema_class(model)()
    return _SCHEMAS[model].load(data)


def dump(obj: Any) -> dict[str, Any]:
    """Encode a model as a request body."""
    if type(obj) not in _SCHEMAS:
        _SCHEMAS[type(obj)] = schema_class(type(obj))()
    return _SCHEMAS[type(obj)].dump(obj)
