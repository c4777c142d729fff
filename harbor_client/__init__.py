"""A strict client for the Harbor v2.0 API: registries, replication, executions, webhooks, system.

The REST client only (no click, no YAML); swr-bridge's provisioning commands are the `provisioning` package."""

from __future__ import annotations

import importlib

# Imported on first use (PEP 562): the endpoint and `swr-bridge sync` use harbor_client.units and should
# not pay for the Harbor client, its models and marshmallow at every start.
_MODULES = {
    "harbor_client.client": ("HarborBasicAuth", "HarborClient"),
    "harbor_client.errors": (
        "BadRequest", "Conflict", "Forbidden", "HarborError", "HarborHTTPError", "HarborUnreachable",
        "NotFound", "PreconditionFailed", "ServerError", "Unauthorized", "UnsupportedByHarborVersion",
    ),
    "harbor_client.models": (
        "GeneralInfo", "Project", "Registry", "RegistryCredential", "RegistryPing", "RegistryUpdate",
        "ReplicationExecution", "ReplicationFilter", "ReplicationPolicy", "ReplicationTask",
        "ReplicationTrigger", "ReplicationTriggerSettings", "WebhookPolicy", "WebhookTargetObject",
    ),
    "harbor_client.pagination": ("Pages", "all_of", "any_of", "between", "fuzzy", "query"),
    "harbor_client.units": (
        "bandwidth_to_speed", "count_to_flatten", "flatten_to_count", "speed_to_bandwidth",
    ),
    "harbor_client.versions": ("HarborVersion", "parse_version"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harbor_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once found, an ordinary attribute
    return value
