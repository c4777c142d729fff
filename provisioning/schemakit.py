"""Shared marshmallow pieces of swr-bridge's config files: unknown keys refused, a model built, a converted
field, an http(s) URL without a password, a file that exists."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

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


class HttpUrl(fields.Url):
    """An http(s) URL that carries no password: secrets come from *_env keys only, and a URL is shown in
    error lines and logs (Harbor unreachable at ...), where a password in it would be printed."""

    def __init__(self, **kwargs: Any):
        super().__init__(require_tld=False, schemes={"http", "https"}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        url = super()._deserialize(value, attr, data, **kwargs)
        if urlsplit(url).password is not None:
            raise ValidationError("must not carry a password; use the matching *_env key")
        return url


def existing_file(value: str) -> None:
    """A validator for paths read later (a CA bundle): requests would fail on a missing one at each call."""
    if not os.path.isfile(value):
        raise ValidationError(f"no such file: {value[:200]!r}")
