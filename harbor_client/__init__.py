"""A strict client for the Harbor v2.0 API: registries, replication, executions, webhooks, system."""

from harbor_client.client import HarborBasicAuth, HarborClient
from harbor_client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HarborError,
    HarborHTTPError,
    HarborUnreachable,
    NotFound,
    PreconditionFailed,
    ServerError,
    Unauthorized,
    UnsupportedByHarborVersion,
)
from harbor_client.models import (
    GeneralInfo,
    Project,
    Registry,
    RegistryCredential,
    RegistryPing,
    RegistryUpdate,
    ReplicationExecution,
    ReplicationFilter,
    ReplicationPolicy,
    ReplicationTask,
    ReplicationTrigger,
    ReplicationTriggerSettings,
    WebhookPolicy,
    WebhookTargetObject,
)
from harbor_client.pagination import Pages, all_of, any_of, between, fuzzy, query
from harbor_client.units import bandwidth_to_speed, count_to_flatten, flatten_to_count, speed_to_bandwidth
from harbor_client.versions import HarborVersion, parse_version

__all__ = [
    "BadRequest", "Conflict", "Forbidden", "HarborError", "HarborHTTPError", "HarborUnreachable", "NotFound",
    "PreconditionFailed", "ServerError", "Unauthorized", "UnsupportedByHarborVersion",
    "HarborBasicAuth", "HarborClient",
    "GeneralInfo", "Project", "Registry", "RegistryCredential", "RegistryPing", "RegistryUpdate",
    "ReplicationExecution", "ReplicationFilter", "ReplicationPolicy", "ReplicationTask", "ReplicationTrigger",
    "ReplicationTriggerSettings", "WebhookPolicy", "WebhookTargetObject",
    "Pages", "all_of", "any_of", "between", "fuzzy", "query",
    "bandwidth_to_speed", "count_to_flatten", "flatten_to_count", "speed_to_bandwidth",
    "HarborVersion", "parse_version",
]
