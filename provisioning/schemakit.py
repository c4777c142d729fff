"""Shared marshmallow pieces of swr-bridge's config files: unknown keys refused, a model built, a converted field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load


class Strict(Schema):
    class Meta:
        unknown = RAISE

    model: type | None = None  # what a load returns; the data as a dict without one

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        return self.model(**data) if self.model else data


class Converted(fields.Field):
    """A value turned into its loaded form by `convert` (a ValueError becomes the validation message)."""

    def __init__(self, convert: Callable[[Any], Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.convert = convert

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        try:
            return self.convert(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
