"""Config schemas of the webhook bridge (`webhooks:`) and of the bridge's own API (`api:`)."""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate, validates_schema

from provisioning import schemakit
from provisioning.schemakit import Strict as _Strict

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 3650 * 86400.0  # ten years: longer is a typo, and "9999...d" would be an infinite float
ENV_NAME = validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$", error="not an environment variable name")
STATUSES = ("succeeded", "failed", "stopped")
DEFAULT_SCHEDULE = ["10s", "30s", "2m", "10m", "30m", "1h", "2h"]


class Duration(fields.Field):
    """`60s`, `5m`, `1h`, `250ms`, `2d`: loads to float seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        match = _DURATION.match(value) if isinstance(value, str) else None
        if not match:
            raise ValidationError("a duration like 60s, 5m or 1h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if not seconds <= MAX_DURATION:
            raise ValidationError("at most 3650d")
        return seconds


class HttpUrl(schemakit.HttpUrl):
    """An http(s) URL without a password, and without a trailing slash (paths are appended to it)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).rstrip("/")


class Instant(fields.AwareDateTime):
    """An ISO 8601 time (UTC when it names no zone), loaded as epoch seconds: the API's since/until, which
    the CLI checks with it too before it asks."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=datetime.timezone.utc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).timestamp()


class _OneOrManyField(fields.Field):
    """A match value: one string or a list of strings, loaded as a tuple."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise ValidationError("a non-empty string or list of strings")
        return tuple(items)


class MatchSchema(_Strict):
    status = _OneOrManyField()
    policy = _OneOrManyField()
    project = _OneOrManyField()
    trigger = _OneOrManyField()
    event_type = _OneOrManyField()

    @validates_schema
    def _known_status(self, data, **_):
        bad = [s for s in data.get("status", ()) if s not in STATUSES + ("running",)]
        if bad:
            raise ValidationError(f"unknown status {bad[0]!r}; one of {', '.join(STATUSES)}, running", "status")


class TemplateSchema(_Strict):
    title = fields.String()
    text = fields.String()


class RouteSchema(_Strict):
    name = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"))
    match = fields.Nested(MatchSchema, load_default=dict)
    sinks = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    per = fields.String(load_default="execution", validate=validate.OneOf(["execution", "task", "event"]))
    template = fields.Nested(TemplateSchema, load_default=None)

    @validates_schema
    def _per_fits_match(self, data, **_):
        types = data.get("match", {}).get("event_type")
        if data["per"] != "event" and types and set(types) != {"REPLICATION"}:
            raise ValidationError("only per: event routes can match event types other than REPLICATION", "per")


class _SinkBase(_Strict):
    type = fields.String(required=True)
    # requests refuses a zero timeout at the first delivery: say so when the config is read.
    timeout = Duration(load_default=10.0, validate=validate.Range(min=0.1, error="at least 100ms"))


class HttpSinkSchema(_SinkBase):
    url = HttpUrl()
    url_env = fields.String(validate=ENV_NAME)
    secret_env = fields.String(required=True, validate=ENV_NAME)

    @validates_schema
    def _one_url(self, data, **_):
        if ("url" in data) == ("url_env" in data):
            raise ValidationError("give exactly one of url and url_env", "url")


class SecretUrlSinkSchema(_SinkBase):
    # Slack and Teams webhook URLs are credentials in themselves, so they only come from env.
    url_env = fields.String(required=True, validate=ENV_NAME)


class AlertmanagerSinkSchema(_SinkBase):
    url = HttpUrl(required=True)
    severity = fields.String(load_default="critical", validate=validate.Length(min=1, max=64))
    # How long a success summary stays listed in Alertmanager before it expires by itself.
    success_ttl = Duration(load_default=3600.0)
    # A failure alert stays active this long unless a success resolves it first; without an endsAt,
    # Alertmanager would drop it after its resolve_timeout (5 minutes by default).
    failure_ttl = Duration(load_default=86400.0)


SINK_SCHEMAS = {"http": HttpSinkSchema, "slack": SecretUrlSinkSchema, "teams": SecretUrlSinkSchema,
                "alertmanager": AlertmanagerSinkSchema}


class SinkField(fields.Field):
    """A sink entry, validated by the schema its `type` selects."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be a mapping")
        kind = value.get("type")
        schema = SINK_SCHEMAS.get(kind) if isinstance(kind, str) else None  # a list or a mapping is no key
        if schema is None:
            raise ValidationError({"type": [f"one of {', '.join(SINK_SCHEMAS)}"]})
        return schema().load(value)


class WatchSchema(_Strict):
    """Harbor's executions read every `interval`, for failures that send no webhook (harbor.md §5.7)."""

    interval = Duration(load_default=30.0, validate=validate.Range(min=1.0, error="at least 1s"))
    policies = fields.String(load_default="*", validate=validate.Length(min=1, max=256))  # a name glob
    # Executions started longer ago than this are not looked at (nor alerted for when the bridge first starts).
    lookback = Duration(load_default=3600.0)


class HarborSchema(_Strict):
    url = HttpUrl(required=True)
    username = fields.String(required=True, validate=validate.Length(min=1))
    password_env = fields.String(required=True, validate=ENV_NAME)
    verify_tls = fields.Boolean(load_default=True)
    # Harbor is asked this often about each open execution: zero would ask it in a loop.
    poll_interval = Duration(load_default=15.0, validate=validate.Range(min=1.0, error="at least 1s"))
    log_tail_lines = fields.Integer(load_default=20, validate=validate.Range(min=1, max=500))
    # Past this long after the last event, an execution Harbor cannot tell us about is summarised from events.
    max_wait = Duration(load_default=1800.0)
    watch = fields.Nested(WatchSchema, load_default=None)


class OutboxSchema(_Strict):
    retry_schedule = fields.List(Duration(), load_default=lambda: [Duration().deserialize(d) for d in DEFAULT_SCHEDULE],
                                 validate=validate.Length(min=1))
    max_attempts = fields.Integer(load_default=8, validate=validate.Range(min=1, max=100))
    # A delivery is another worker's to take once its lease ends: a zero lease would send alerts twice.
    lease = Duration(load_default=60.0, validate=validate.Range(min=1.0, error="at least 1s"))
    # The dispatcher waits this long between empty polls: zero would spin a core.
    poll_interval = Duration(load_default=1.0, validate=validate.Range(min=0.01, error="at least 10ms"))
    batch_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000))
    autostart = fields.Boolean(load_default=True)


class RetentionSchema(_Strict):
    """How long rows are kept (null: forever); pruned in the background, `batch` rows per transaction."""

    events = Duration(load_default=90 * 86400.0, allow_none=True, validate=validate.Range(min=3600, error="at least 1h"))
    summaries = Duration(load_default=400 * 86400.0, allow_none=True, validate=validate.Range(min=3600, error="at least 1h"))
    deliveries = Duration(load_default=30 * 86400.0, allow_none=True, validate=validate.Range(min=3600, error="at least 1h"))
    batch = fields.Integer(load_default=500, validate=validate.Range(min=1, max=10_000))
    interval = Duration(load_default=60.0, validate=validate.Range(min=0.01))


class WebhooksSchema(_Strict):
    path = fields.String(load_default="/webhooks/harbor", validate=validate.Regexp(r"^/[A-Za-z0-9/_.-]*$"))
    auth_tokens_env = fields.List(fields.String(validate=ENV_NAME), required=True, validate=validate.Length(min=1))
    store = fields.String(load_default="sqlite:///var/lib/swr-bridge/events.db")
    store_password_env = fields.String(load_default=None, validate=ENV_NAME)
    quiet_period = Duration(load_default=60.0)
    harbor = fields.Nested(HarborSchema, load_default=None)
    sinks = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$")), values=SinkField(),
                        load_default=dict)
    routes = fields.List(fields.Nested(RouteSchema), load_default=list)
    outbox = fields.Nested(OutboxSchema, load_default=lambda: OutboxSchema().load({}))
    retention = fields.Nested(RetentionSchema, load_default=lambda: RetentionSchema().load({}))

    @validates_schema
    def _store_url(self, data, **_):
        store = data.get("store", "")
        if not (store.startswith("sqlite:///") or store.startswith("postgresql://")):
            raise ValidationError("a sqlite:///path or postgresql:// URL", "store")
        if store.startswith("postgresql://") and urlsplit(store).password is not None:
            raise ValidationError("must not carry a password; use store_password_env", "store")

    @validates_schema
    def _routes_name_sinks(self, data, **_):
        for i, route in enumerate(data.get("routes", [])):
            for name in route["sinks"]:
                if name not in data.get("sinks", {}):
                    raise ValidationError(f"route {i + 1} names unknown sink {name!r}", "routes")


class ApiSchema(_Strict):
    tokens_env = fields.List(fields.String(validate=ENV_NAME), load_default=list)
    # Long polls (GET /api/v1/executions/<id>?wait=final) each hold a worker thread: at most this many per process.
    max_waiters = fields.Integer(load_default=8, validate=validate.Range(min=1, max=1000))


def required_env(webhooks: dict | None, api: dict | None) -> list[tuple[str, str]]:
    """(key path, variable) for every env variable the bridge reads a secret from and cannot start without,
    as Bridge reads them in each worker; `serve` checks them first, so that a missing one is one error line
    before anything starts instead of a traceback from every worker gunicorn boots."""
    if not webhooks:
        return []
    found = [("webhooks.auth_tokens_env", name) for name in webhooks["auth_tokens_env"]]
    found += [("api.tokens_env", name) for name in (api or {}).get("tokens_env", [])]
    if webhooks.get("harbor"):
        found.append(("webhooks.harbor.password_env", webhooks["harbor"]["password_env"]))
    for name, sink in webhooks["sinks"].items():
        found += [(f"webhooks.sinks.{name}.{key}", sink[key]) for key in ("url_env", "secret_env")
                  if sink.get(key) and not (key == "url_env" and sink.get("url"))]
    return found
