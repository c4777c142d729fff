"""bridge.yaml: the desired Harbor state, validated with marshmallow; errors name the file, key path and reason."""

from __future__ import annotations

import os
import re
from typing import Any

from marshmallow import (
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from harbor_client.units import bandwidth_to_speed, flatten_to_count
from provisioning.schemakit import Converted, HttpUrl, Strict, existing_file
from provisioning.specs import (
    BridgeFile,
    BridgeFileError,
    BridgeSection,
    EndpointSpec,
    HarborSection,
    RuleSpec,
    WebhookSpec,
)
from provisioning.textfile import UnreadableFile, read_text
from provisioning.yamldoc import YamlSyntaxError, parse_yaml, problems

__all__ = ["BridgeFile", "BridgeFileError", "EndpointSpec", "HarborSection", "RuleSpec", "WebhookSpec",
           "load_bridgefile", "load_data"]

PROVIDERS = ("docker-registry", "huawei-SWR")
FORMATS = ("Default", "CloudEvents")
EVENTS = ("PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING", "SCANNING_FAILED",
          "SCANNING_STOPPED", "SCANNING_COMPLETED", "REPLICATION", "TAG_RETENTION")
# distribution's reference.NameRegexp, which Harbor applies to dest_namespace (harbor.md §2.2).
# The spec writes the separator `[-]*`; `-+` is the same language without exponential backtracking.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAMESPACE_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
# A secret written into the file instead of named through an env variable.
_INLINE_SECRETS = {"password": "password_env", "access_secret": "access_secret_env", "auth_header": "auth_header_env"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(Strict):
    """Strict, and a secret written into the file is refused wherever it stands."""

    @pre_load
    def _no_inline_secrets(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            found = {k: f"secrets never go in the file: name an env variable with {_INLINE_SECRETS[k]}"
                     for k in data if k in _INLINE_SECRETS}
            if found:
                raise ValidationError(found)
        return data


def _trigger(value: Any) -> tuple[str, str | None]:
    if value in ("manual", "event_based"):
        return value, None
    if isinstance(value, dict) and set(value) == {"cron"} and isinstance(value["cron"], str):
        cron = value["cron"].split()
        if len(cron) != 6 or cron[0] != "0" or cron[1] == "*":
            raise ValueError(f"invalid cron {value['cron']!r}: Harbor wants six fields (seconds first), "
                             "the first '0' and the second not '*', e.g. '0 0 2 * * *'")
        return "scheduled", value["cron"]
    raise ValueError("must be manual, event_based or {cron: '<6-field cron>'}")


def _namespace(value: str) -> None:
    from adapter.swr.naming import namespace_violations

    if value and not NAMESPACE_RE.match(value):
        raise ValidationError("must be lowercase path components (a-z, 0-9, separators . _ __ -) joined by '/'")
    # Harbor accepts what SWR then refuses at every push (e.g. an organization starting with a digit).
    # "library" is left to the endpoint's mapping, which usually sends it elsewhere.
    found = [e for e in namespace_violations(value) if e.rule != "organization.reserved"] if value else []
    if found:
        raise ValidationError([f"SWR would refuse every push: {error}" for error in found])


def _both_or_neither(data: dict[str, Any], key: str, secret_env: str) -> None:
    """A key and the env variable naming its secret are set together or not at all."""
    if bool(data.get(key)) != bool(data.get(secret_env)):
        raise ValidationError(f"set both {key} and {secret_env}, or neither", secret_env)


class HarborSchema(_Strict):
    model = HarborSection
    url = HttpUrl(required=True)
    username = fields.String(load_default=None)
    password_env = fields.String(load_default=None)
    verify_tls = fields.Boolean(load_default=True)
    ca_bundle = fields.String(load_default=None, validate=existing_file)

    @validates_schema
    def _secret_with_user(self, data: dict[str, Any], **_: Any) -> None:
        _both_or_neither(data, "username", "password_env")


class BridgeSchema(_Strict):
    model = BridgeSection
    url = HttpUrl(required=True)
    token_env = fields.String(load_default="BRIDGE_API_TOKEN", validate=validate.Regexp(_ENV_NAME))
    intake_path = fields.String(load_default="/webhooks/harbor", validate=validate.Regexp(r"^/[A-Za-z0-9/_.-]*$"))
    intake_token_env = fields.String(load_default="BRIDGE_WEBHOOK_TOKEN", validate=validate.Regexp(_ENV_NAME))


class EndpointSchema(_Strict):
    model = EndpointSpec
    name = fields.String(required=True, validate=validate.Length(1, 64))
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    url = HttpUrl(required=True)
    access_id = fields.String(load_default=None)
    access_secret_env = fields.String(load_default=None)
    verify_remote_cert = fields.Boolean(load_default=True)
    description = fields.String(load_default="")

    @validates_schema
    def _secret_with_id(self, data: dict[str, Any], **_: Any) -> None:
        _both_or_neither(data, "access_id", "access_secret_env")


class SourceSchema(_Strict):
    project = fields.String(required=True, validate=validate.Length(min=1))
    repositories = fields.String(load_default="**")
    tags = fields.String(load_default="**")
    labels = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)


class DestinationSchema(_Strict):
    namespace = fields.String(load_default="", validate=_namespace)
    flatten = Converted(flatten_to_count, load_default=-1)


class RuleSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1))
    endpoint = fields.String(required=True)
    description = fields.String(load_default="")
    source = fields.Nested(SourceSchema, required=True)
    destination = fields.Nested(DestinationSchema, load_default=lambda: DestinationSchema().load({}))
    trigger = Converted(_trigger, load_default=("manual", None))
    bandwidth = Converted(bandwidth_to_speed, load_default=-1)
    override = fields.Boolean(load_default=True)
    replicate_deletion = fields.Boolean(load_default=False)
    copy_by_chunk = fields.Boolean(load_default=False)
    single_active_replication = fields.Boolean(load_default=False)
    enabled = fields.Boolean(load_default=True)

    @validates_schema
    def _single_active(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("single_active_replication") and data.get("trigger", ("manual",))[0] == "event_based":
            raise ValidationError("Harbor refuses single_active_replication with an event_based trigger",
                                  "single_active_replication")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> RuleSpec:
        source, dest = data.pop("source"), data.pop("destination")
        (trigger, cron), speed = data.pop("trigger"), data.pop("bandwidth")
        return RuleSpec(**data, project=source["project"], repositories=source["repositories"],
                        tags=source["tags"], labels=tuple(source["labels"]), namespace=dest["namespace"],
                        flatten=dest["flatten"], trigger=trigger, cron=cron, speed=speed)


class WebhookSchema(_Strict):
    project = fields.String(required=True, validate=validate.Length(min=1))
    name = fields.String(load_default=None, validate=validate.Length(min=1))
    url = HttpUrl(required=True)
    auth_header_env = fields.String(load_default=None)
    format = fields.String(load_default="Default", validate=validate.OneOf(FORMATS))
    events = fields.List(fields.String(validate=validate.OneOf(EVENTS)), load_default=lambda: ["REPLICATION"],
                         validate=validate.Length(min=1))
    verify_remote_cert = fields.Boolean(load_default=True)
    enabled = fields.Boolean(load_default=True)
    description = fields.String(load_default="")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> WebhookSpec:
        # Webhook policy names are unique across Harbor, so the default carries the project.
        name = data.pop("name") or f"swr-bridge-{data['project']}"
        return WebhookSpec(**{**data, "events": tuple(data["events"])}, name=name)


class BridgeFileSchema(_Strict):
    harbor = fields.Nested(HarborSchema, load_default=None)
    bridge = fields.Nested(BridgeSchema, load_default=None)
    endpoints = fields.List(fields.Nested(EndpointSchema), load_default=list)
    rules = fields.List(fields.Nested(RuleSchema), load_default=list)
    webhooks = fields.List(fields.Nested(WebhookSchema), load_default=list)

    @validates_schema(skip_on_field_errors=True)
    def _references(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        for kind in ("endpoints", "rules", "webhooks"):
            seen: set[str] = set()
            for i, item in enumerate(data[kind]):
                if item.name in seen:
                    errors.setdefault(kind, {})[i] = {"name": [f"{item.name!r} is used twice"]}
                seen.add(item.name)
        names = {e.name for e in data["endpoints"]}
        for i, rule in enumerate(data["rules"]):
            if rule.endpoint not in names:
                errors.setdefault("rules", {}).setdefault(i, {})["endpoint"] = [
                    f"no endpoint named {rule.endpoint!r} in endpoints"]
        if errors:
            raise ValidationError(errors)


def load_data(data: Any, source: str = "<bridge file>") -> BridgeFile:
    """Validate already-parsed YAML."""
    if not isinstance(data, dict):
        raise BridgeFileError(source, [("", "the top level must be a mapping (harbor, endpoints, rules, webhooks)")])
    try:
        loaded = BridgeFileSchema().load(data)
    except ValidationError as err:
        raise BridgeFileError(source, problems(err.messages, data, brackets=True)) from None
    webhooks = tuple(loaded["webhooks"]) + _bridge_webhooks(loaded)
    return BridgeFile(source, loaded["harbor"], tuple(loaded["endpoints"]), tuple(loaded["rules"]), webhooks,
                      loaded["bridge"])


def _bridge_webhooks(loaded: dict[str, Any]) -> tuple[WebhookSpec, ...]:
    """With `bridge:`, a REPLICATION webhook policy to its intake in every project a rule replicates from
    (Harbor files a push-mode task's events under its source project), unless `webhooks:` has one there."""
    bridge = loaded["bridge"]
    if bridge is None:
        return ()
    covered = {w.project for w in loaded["webhooks"] if w.url.rstrip("/") == bridge.intake_url.rstrip("/")}
    names = {w.name for w in loaded["webhooks"]}
    found = []
    for project in dict.fromkeys(rule.project for rule in loaded["rules"]):
        name = f"swr-bridge-{project}"
        if project in covered or name in names:
            continue
        found.append(WebhookSpec(project=project, name=name, url=bridge.intake_url,
                                 auth_header_env=bridge.intake_token_env, description="to the swr-bridge intake",
                                 from_bridge=True))
    return tuple(found)


def load_bridgefile(path: str | os.PathLike[str]) -> BridgeFile:
    """Read and validate a bridge file."""
    source = str(path)
    try:
        data = parse_yaml(read_text(path))
    except (UnreadableFile, YamlSyntaxError) as exc:
        raise BridgeFileError(source, [("", str(exc))]) from None
    return load_data(data, source)
