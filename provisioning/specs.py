"""The parsed bridge file: frozen specs for the Harbor connection, endpoints, rules and webhooks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class BridgeFileError(ValueError):
    """One or more problems in a bridge file: (key path, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source, self.problems = source, problems
        super().__init__("\n".join(f"{source}: {key}: {why}" if key else f"{source}: {why}" for key, why in problems))


@dataclass(frozen=True)
class HarborSection:
    url: str
    username: str | None = None
    password_env: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    provider: str
    url: str
    access_id: str | None = None
    access_secret_env: str | None = None
    verify_remote_cert: bool = True
    description: str = ""


@dataclass(frozen=True)
class RuleSpec:
    name: str
    endpoint: str
    project: str
    repositories: str = "**"
    tags: str = "**"
    labels: tuple[str, ...] = ()
    namespace: str = ""
    flatten: int = -1  # dest_namespace_replace_count
    trigger: str = "manual"  # manual | event_based | scheduled
    cron: str | None = None
    speed: int = -1  # Kibit/s; -1 unlimited
    override: bool = True
    replicate_deletion: bool = False
    copy_by_chunk: bool = False
    single_active_replication: bool = False
    enabled: bool = True
    description: str = ""

    @property
    def name_filter(self) -> str:
        """Harbor's name filter: a doublestar pattern over `project/repository`."""
        return f"{self.project}/{self.repositories}"


@dataclass(frozen=True)
class WebhookSpec:
    project: str
    name: str
    url: str
    auth_header_env: str | None = None
    format: str = "Default"
    events: tuple[str, ...] = ("REPLICATION",)
    verify_remote_cert: bool = True
    enabled: bool = True
    description: str = ""
    from_bridge: bool = False  # made from `bridge:` rather than written under `webhooks:`


@dataclass(frozen=True)
class BridgeSection:
    """The webhook bridge: its API for `replicate --wait`, its intake for the webhook policies apply makes."""
    url: str
    token_env: str = "BRIDGE_API_TOKEN"
    intake_path: str = "/webhooks/harbor"
    intake_token_env: str = "BRIDGE_WEBHOOK_TOKEN"

    @property
    def intake_url(self) -> str:
        return self.url.rstrip("/") + self.intake_path


@dataclass(frozen=True)
class BridgeFile:
    source: str
    harbor: HarborSection | None
    endpoints: tuple[EndpointSpec, ...]
    rules: tuple[RuleSpec, ...]
    webhooks: tuple[WebhookSpec, ...]
    bridge: BridgeSection | None = None

    def secret(self, env_name: str, key_path: str, environ: Mapping[str, str] | None = None) -> str:
        """The value of the env variable a `*_env` key names; a BridgeFileError when it is unset or empty."""
        value = (os.environ if environ is None else environ).get(env_name)
        if not value:
            raise BridgeFileError(self.source, [(key_path, f"env variable {env_name} is not set")])
        return value

    def rule(self, name: str) -> RuleSpec | None:
        return next((r for r in self.rules if r.name == name), None)

    def index(self, kind: str, name: str) -> int:
        """The position of a named endpoint/rule/webhook in the file, for key paths."""
        items = getattr(self, kind)
        return next(i for i, item in enumerate(items) if item.name == name)
