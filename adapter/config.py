"""Settings for `swr-bridge serve`: a YAML file validated with marshmallow into one frozen BridgeConfig;
secrets only from env (the config names the variables)."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from adapter.swr.credentials import OTC_REGIONS, AccessID, CredentialError
from adapter.swr.mapping import MappingRule, MappingRuleSchema
from adapter.throttle import BandwidthPolicy, BandwidthSchema
from adapter.transfer.blacklist import BLACKLIST_SECONDS
from adapter.transfer.limits import LAYER_LIMIT, MAX_CONCURRENT_LAYERS, parse_size
from adapter.webhooks.config import ApiSchema, WebhooksSchema
from provisioning.schemakit import Converted, HttpUrl, existing_file
from provisioning.schemakit import Strict as _Strict
from provisioning.textfile import UnreadableFile, read_text
from provisioning.yamldoc import YamlSyntaxError, parse_yaml, problems, shown

DEFAULT_SANDBOX_REGISTRY = "http://127.0.0.1:5000"
DEFAULT_SANDBOX_API = "http://127.0.0.1:5001"


class ConfigError(ValueError):
    """Config problems, each with its key path and reason; `key_path` and `reason` are the first one's."""

    def __init__(self, source: str, key_path: str, reason: str, more: list[tuple[str, str]] = ()):
        self.source, self.key_path, self.reason = source, key_path, reason
        self.problems = [(key_path, reason), *more]
        super().__init__("\n".join(f"{source}: {key}: {why}" if key else f"{source}: {why}"
                                   for key, why in self.problems))


@dataclass(frozen=True)
class SwrConfig:
    region: str = "eu-de"
    registry: str | None = None
    api: str | None = None
    dockyard: str | None = None  # where the huawei-SWR /dockyard calls go; SWR serves them on the registry host
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = 30.0
    max_layer_size: int = LAYER_LIMIT  # SWR's per-layer limit: a blob known to be larger is refused at once
    max_concurrent_layers: int | None = MAX_CONCURRENT_LAYERS  # upload seats per SWR tenant (None: no seats)
    blacklist_hold: float = BLACKLIST_SECONDS  # after SWR's blacklist refusal, an account's calls fail unsent this long

    @property
    def verify(self) -> bool | str:
        """What requests' `verify` takes: the CA bundle when one is set, else whether to verify."""
        return self.ca_bundle or self.verify_tls


@dataclass(frozen=True)
class PinnedClient:
    username: str
    password_env: str


@dataclass(frozen=True)
class PinnedConfig:
    access_id: str
    secret_key_env: str
    clients: tuple[PinnedClient, ...]


@dataclass(frozen=True)
class CredentialsConfig:
    mode: str = "passthrough"
    pinned: PinnedConfig | None = None
    cache_seconds: int = 60
    failure_cache_seconds: int = 30
    max_concurrent_logins: int = 4


@dataclass(frozen=True)
class OrganizationsConfig:
    auto_create: bool = True


@dataclass(frozen=True)
class ManifestsConfig:
    oci_index: str = "convert"  # an OCI index SWR refuses: pushed as a Docker manifest list, or refused


@dataclass(frozen=True)
class BridgeConfig:
    """The endpoint's whole config, validated; `webhooks` and `api` are those sections as their schemas
    (adapter.webhooks.config) load them, None when absent."""

    listen: str
    public_url: str | None
    trusted_hosts: tuple[str, ...]
    instance_key_env: str
    token_ttl: int
    upload_ttl: int
    swr: SwrConfig
    credentials: CredentialsConfig
    mapping: tuple[MappingRule, ...]
    organizations: OrganizationsConfig
    manifests: ManifestsConfig
    bandwidth: BandwidthPolicy
    webhooks: dict[str, Any] | None
    api: dict[str, Any] | None
    log_level: str


class HostPort(fields.Field):
    """`listen`: host:port or [v6]:port, as a string."""

    PATTERN = re.compile(r"^[^:\s\[\]]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$")

    def _deserialize(self, value, attr, data, **kwargs):
        if not (isinstance(value, str) and self.PATTERN.match(value)) or int(value.rsplit(":", 1)[1]) > 65535:
            raise ValidationError(f'expected "host:port" (e.g. "127.0.0.1:8080"), got {shown(value)}')
        return value


def _known_region(value: str) -> None:
    if value not in OTC_REGIONS:
        close = difflib.get_close_matches(value, OTC_REGIONS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValidationError(f"unknown OTC region {value!r}; {hint}expected one of {', '.join(OTC_REGIONS)}")


class SwrSchema(_Strict):
    model = SwrConfig
    region = fields.String(load_default="eu-de", validate=_known_region)
    registry = HttpUrl(load_default=None, allow_none=True)
    api = HttpUrl(load_default=None, allow_none=True)
    dockyard = HttpUrl(load_default=None, allow_none=True)
    verify_tls = fields.Boolean(load_default=True)
    ca_bundle = fields.String(load_default=None, allow_none=True, validate=existing_file)
    timeout = fields.Float(load_default=30.0, validate=validate.Range(min=1))
    # SWR's per-layer limit: a blob known to be larger is refused before a byte of it is sent.
    max_layer_size = Converted(parse_size, load_default=LAYER_LIMIT, validate=validate.Range(min=1))
    # SWR's "at most 20 layers pushed at once" per tenant: layer uploads beyond it wait for a seat.
    max_concurrent_layers = fields.Integer(load_default=MAX_CONCURRENT_LAYERS, allow_none=True,
                                           validate=validate.Range(min=1, max=1000))
    # SWR's blacklist lasts 30 minutes: an account it refused is answered 429 without asking SWR that long.
    blacklist_hold = fields.Float(load_default=BLACKLIST_SECONDS, validate=validate.Range(min=0, max=86400))


class PinnedClientSchema(_Strict):
    model = PinnedClient
    username = fields.String(required=True)
    password_env = fields.String(required=True)


def _access_id(value: str) -> None:
    """A pinned access id the endpoint could never sign with is refused when the file is read."""
    try:
        AccessID.parse(value)
    except CredentialError as exc:
        raise ValidationError(str(exc)) from None


class PinnedSchema(_Strict):
    model = PinnedConfig
    access_id = fields.String(required=True, validate=_access_id)
    secret_key_env = fields.String(required=True)
    clients = fields.List(fields.Nested(PinnedClientSchema), required=True, validate=validate.Length(min=1))

    @post_load
    def _make(self, data, **_):
        return PinnedConfig(data["access_id"], data["secret_key_env"], tuple(data["clients"]))


class CredentialsSchema(_Strict):
    model = CredentialsConfig
    mode = fields.String(load_default="passthrough", validate=validate.OneOf(["passthrough", "pinned"]))
    pinned = fields.Nested(PinnedSchema, load_default=None, allow_none=True)
    cache_seconds = fields.Integer(load_default=60, validate=validate.Range(min=0, max=3600))
    # A secret SWR refused is refused again this long without asking SWR.
    failure_cache_seconds = fields.Integer(load_default=30, validate=validate.Range(min=1, max=3600))
    max_concurrent_logins = fields.Integer(load_default=4, validate=validate.Range(min=1, max=256))

    @validates_schema(skip_on_field_errors=True)
    def _pinned_needs_block(self, data, **_):
        if data["mode"] == "pinned" and not data.get("pinned"):
            raise ValidationError("mode pinned needs a 'pinned' block", "pinned")


class ManifestsSchema(_Strict):
    model = ManifestsConfig
    # What to do when SWR refuses an OCI image index: push it as a Docker manifest list, or pass the refusal on.
    oci_index = fields.String(load_default="convert", validate=validate.OneOf(["convert", "refuse"]))


class OrganizationsSchema(_Strict):
    model = OrganizationsConfig
    auto_create = fields.Boolean(load_default=True)


class BridgeConfigSchema(_Strict):
    listen = HostPort(load_default="127.0.0.1:8080")
    public_url = HttpUrl(load_default=None, allow_none=True)
    # Without public_url: Host headers the token realm may name (anything else gets the listen address).
    trusted_hosts = fields.List(fields.String(validate=validate.Regexp(
        r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$", error="must be HOST or HOST:PORT")),
        load_default=list)
    instance_key_env = fields.String(load_default="SWR_BRIDGE_KEY")
    token_ttl = fields.Integer(load_default=900, validate=validate.Range(min=60, max=86400))
    upload_ttl = fields.Integer(load_default=86400, validate=validate.Range(min=300, max=7 * 86400))
    swr = fields.Nested(SwrSchema, load_default=lambda: SwrSchema().load({}))
    credentials = fields.Nested(CredentialsSchema, load_default=lambda: CredentialsSchema().load({}))
    mapping = fields.List(fields.Nested(MappingRuleSchema), load_default=list)
    organizations = fields.Nested(OrganizationsSchema, load_default=lambda: OrganizationsSchema().load({}))
    manifests = fields.Nested(ManifestsSchema, load_default=lambda: ManifestsSchema().load({}))
    bandwidth = fields.Nested(BandwidthSchema, load_default=lambda: BandwidthSchema().load({}))
    webhooks = fields.Nested(WebhooksSchema, load_default=None, allow_none=True)
    api = fields.Nested(ApiSchema, load_default=None, allow_none=True)
    log_level = fields.String(load_default="INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))

    @post_load
    def _make(self, data, **_):
        return BridgeConfig(**{**data, "mapping": tuple(data["mapping"]), "trusted_hosts": tuple(data["trusted_hosts"])})


def load_data(data: dict | None, source: str = "<config>") -> BridgeConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, "", "the top level must be a mapping")
    try:
        return BridgeConfigSchema().load(data)
    except ValidationError as err:
        (key, reason), *more = problems(err.messages, data)
        raise ConfigError(source, key, reason, more) from None


def load_config(path: str | os.PathLike | None = None) -> BridgeConfig:
    """Reads and validates the YAML file; no file means the embedded defaults."""
    if path is None:
        return load_data({}, "<defaults>")
    source = str(path)
    try:
        data = parse_yaml(read_text(path))
    except (UnreadableFile, YamlSyntaxError) as exc:
        raise ConfigError(source, "", str(exc)) from None
    if data is None:
        # Most likely a file that was not filled in, or the wrong one: running on the defaults would hide that.
        raise ConfigError(source, "", "the file is empty; expected a mapping with at least `swr:` and `mapping:` "
                          "(without --config the embedded defaults apply)")
    return load_data(data, source)


def swr_endpoints(config: BridgeConfig) -> tuple[str, str]:
    """The SWR registry and API base URLs: explicit overrides, else derived from the region."""
    from adapter.swr.credentials import api_host, registry_host

    swr = config.swr
    registry = swr.registry or f"https://{registry_host(swr.region)}"
    api = swr.api or f"https://{api_host(swr.region)}"
    return registry.rstrip("/"), api.rstrip("/")
