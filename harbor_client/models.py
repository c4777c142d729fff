"""Typed results and request bodies, one dataclass per swagger definition the bridge uses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harbor_client.versions import HarborVersion, parse_version

_ITEMS_RE = re.compile(r"\s*\[\d+ item\(s\) in total\]$")


def resource_name(text: str | None) -> str:
    """A task's or webhook's resource as Harbor words it, `library/busybox [2 item(s) in total]`,
    without the count: `library/busybox`."""
    return _ITEMS_RE.sub("", text or "")


TERMINAL_STATUSES = frozenset({"Succeed", "Failed", "Stopped"})
MASKED_SECRET = "*****"  # what GET /registries/{id} returns instead of a stored secret

# Every model keeps the fields this client does not know in `extra`, so a GET-modify-PUT round trip
# against a newer Harbor does not wipe them (a PUT replaces the whole policy). harbor_client.schemas
# derives the marshmallow schemas from these dataclasses: a field is written here, once.


def server_set() -> Any:
    """A field Harbor assigns (ids, times, status, creator): read from answers, never sent in a body."""
    return field(default=None, metadata={"server_set": True})


@dataclass(kw_only=True)
class RegistryCredential:
    type: str = "basic"
    access_key: str | None = None
    access_secret: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class Registry:
    id: int | None = server_set()
    name: str | None = None
    url: str | None = None
    type: str | None = None
    credential: RegistryCredential | None = None
    insecure: bool = False
    ca_certificate: str | None = None
    description: str | None = None
    status: str | None = server_set()
    creation_time: datetime | None = server_set()
    update_time: datetime | None = server_set()
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class _FlatRegistry:
    """The flat connection fields RegistryUpdate and RegistryPing share (no nested `credential`)."""

    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = field(default=None, repr=False)
    insecure: bool | None = None
    ca_certificate: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class RegistryUpdate(_FlatRegistry):
    """PUT /registries/{id} takes flat credential fields; unset (None) fields keep their stored value."""

    name: str | None = None
    description: str | None = None


@dataclass(kw_only=True)
class RegistryPing(_FlatRegistry):
    """POST /registries/ping: an `id` pings the stored registry, with credential overrides if given."""

    id: int | None = None
    type: str | None = None


@dataclass(kw_only=True)
class ReplicationTriggerSettings:
    cron: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class ReplicationTrigger:
    type: str = "manual"
    trigger_settings: ReplicationTriggerSettings | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class ReplicationFilter:
    type: str
    value: Any = None
    decoration: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class ReplicationPolicy:
    """A replication rule. Push mode: `src_registry` unset (or id 0, the local Harbor), `dest_registry` set.

    The gated fields default to None, meaning "not set": they are then left out of the request.
    """

    id: int | None = server_set()
    name: str | None = None
    description: str | None = None
    src_registry: Registry | None = None
    dest_registry: Registry | None = None
    dest_namespace: str | None = None
    dest_namespace_replace_count: int | None = None
    trigger: ReplicationTrigger | None = None
    filters: list[ReplicationFilter] | None = None
    # Sent as both `deletion` (what Harbor reads) and `replicate_deletion` (what it documents).
    replicate_deletion: bool = False
    override: bool = True
    enabled: bool = True
    speed: int | None = None
    copy_by_chunk: bool | None = None
    single_active_replication: bool | None = None
    creation_time: datetime | None = server_set()
    update_time: datetime | None = server_set()
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_push(self) -> bool:
        return self.src_registry is None or not self.src_registry.id


@dataclass(kw_only=True)
class ReplicationExecution:
    id: int
    policy_id: int | None = None
    status: str | None = None
    trigger: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    status_text: str = ""
    total: int = 0
    failed: int = 0
    succeed: int = 0
    in_progress: int = 0
    stopped: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(kw_only=True)
class ReplicationTask:
    id: int
    execution_id: int | None = None
    status: str | None = None
    job_id: str | None = None
    operation: str | None = None
    resource_type: str | None = None
    src_resource: str | None = None
    dst_resource: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class WebhookTargetObject:
    type: str = "http"
    address: str | None = None
    auth_header: str | None = field(default=None, repr=False)
    skip_cert_verify: bool = False
    payload_format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class WebhookPolicy:
    """A project webhook. `enabled` defaults to True and is always sent: Harbor stores an omitted one as false."""

    id: int | None = server_set()
    name: str | None = None
    description: str | None = None
    project_id: int | None = server_set()
    targets: list[WebhookTargetObject] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    creator: str | None = server_set()
    enabled: bool = True
    creation_time: datetime | None = server_set()
    update_time: datetime | None = server_set()
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class Project:
    project_id: int
    name: str
    owner_id: int | None = None
    owner_name: str | None = None
    registry_id: int | None = None
    repo_count: int = 0
    deleted: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    creation_time: datetime | None = None
    update_time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class GeneralInfo:
    """GET /systeminfo; `harbor_version` and most fields are only present for an authenticated caller."""

    harbor_version: str | None = None
    external_url: str | None = None
    registry_url: str | None = None
    auth_mode: str | None = None
    read_only: bool | None = None
    notification_enable: bool | None = None
    current_time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> HarborVersion | None:
        return parse_version(self.harbor_version)
