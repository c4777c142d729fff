"""Config schemas of the webhook bridge (`webhooks:`) and of the bridge's own API (`api:`)."""

from marshmallow import INCLUDE, Schema, fields


class WebhooksSchema(Schema):
    # Placeholder until the webhook bridge lands; keeps every key so nothing is lost.
    class Meta:
        unknown = INCLUDE


class ApiSchema(Schema):
    class Meta:
        unknown = INCLUDE

    tokens_env = fields.List(fields.String(), load_default=list)
