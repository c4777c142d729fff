"""What a bridge file asks of Harbor: request bodies, and comparable views of wanted and current objects."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from harbor_client.models import (
    Registry,
    RegistryCredential,
    RegistryUpdate,
    ReplicationFilter,
    ReplicationPolicy,
    ReplicationTrigger,
    ReplicationTriggerSettings,
    WebhookPolicy,
    WebhookTargetObject,
)
from harbor_client.units import count_to_flatten, speed_to_bandwidth
from provisioning import marker
from provisioning.bridgefile import EndpointSpec, RuleSpec, WebhookSpec

# A view is a flat dict keyed like the bridge file (`destination.flatten`, `trigger`, ...), so a plan can
# name what changes in the file's own words. Harbor's defaults and omissions are folded in first:
# an absent `speed` is unlimited, an absent replace count is "all", an empty tag filter matches all.
MATCH_ALL = "**"


def normalise_url(raw: str) -> str:
    """Harbor's lib.ValidateHTTPURL: trimmed, no trailing '/', http:// by default, scheme://host+path only."""
    text = raw.strip().rstrip("/")
    parts = urlsplit(text if "://" in text else "http://" + text)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- endpoints (registries) ------------------------------------------------------------------------

def endpoint_view(registry: Registry) -> dict[str, Any]:
    description, managed, _ = marker.split(registry.description)
    return {"provider": registry.type, "url": registry.url, "access_id": (registry.credential or
            RegistryCredential()).access_key or None, "verify_remote_cert": not registry.insecure,
            "description": description, "managed": managed}


def endpoint_wanted(spec: EndpointSpec) -> dict[str, Any]:
    return {"provider": spec.provider, "url": normalise_url(spec.url), "access_id": spec.access_id,
            "verify_remote_cert": spec.verify_remote_cert, "description": spec.description, "managed": True}


def registry_body(spec: EndpointSpec, secret: str | None) -> Registry:
    """POST /registries, with the secret's fingerprint in the description."""
    credential = RegistryCredential(access_key=spec.access_id, access_secret=secret) if spec.access_id else None
    return Registry(name=spec.name, url=spec.url, type=spec.provider, credential=credential,
                    insecure=not spec.verify_remote_cert, description=_described(spec, secret))


def registry_update(spec: EndpointSpec, secret: str | None) -> RegistryUpdate:
    """PUT /registries/{id}. The secret is always re-sent: Harbor clears it when the URL changes without one."""
    return RegistryUpdate(description=_described(spec, secret), url=spec.url, credential_type="basic",
                          access_key=spec.access_id or "", access_secret=secret or "",
                          insecure=not spec.verify_remote_cert)


def _described(spec: EndpointSpec, secret: str | None) -> str:
    return marker.mark(spec.description, marker.fingerprint(secret) if secret else None)


# --- rules (replication policies) -------------------------------------------------------------------

def _filters_view(filters: list[ReplicationFilter] | None) -> dict[str, Any]:
    view: dict[str, Any] = {"source.project": "", "source.repositories": "", "source.tags": MATCH_ALL,
                            "source.labels": [], "source.other_filters": []}
    for item in filters or []:
        decoration = item.decoration or "matches"
        if item.type == "name" and decoration == "matches":
            project, _, repositories = str(item.value or MATCH_ALL).partition("/")
            view.update({"source.project": project, "source.repositories": repositories})
        elif item.type == "tag" and decoration == "matches":
            view["source.tags"] = item.value or MATCH_ALL
        elif item.type == "label" and decoration == "matches":
            view["source.labels"] = sorted(item.value or [])
        else:
            view["source.other_filters"].append(f"{item.type} {decoration} {item.value}")
    return view


def _trigger_view(trigger: ReplicationTrigger | None) -> str:
    kind = trigger.type if trigger else "manual"
    if kind == "scheduled":
        return f"cron {(trigger.trigger_settings or ReplicationTriggerSettings()).cron}"
    return kind


def rule_view(policy: ReplicationPolicy) -> dict[str, Any]:
    description, managed, _ = marker.split(policy.description)
    endpoint = policy.dest_registry.name if policy.dest_registry and policy.is_push else None
    return {"endpoint": endpoint, "description": description, "managed": managed,
            **_filters_view(policy.filters), "destination.namespace": policy.dest_namespace or "",
            "destination.flatten": count_to_flatten(policy.dest_namespace_replace_count),
            "trigger": _trigger_view(policy.trigger), "bandwidth": speed_to_bandwidth(policy.speed),
            "override": policy.override, "replicate_deletion": policy.replicate_deletion,
            "copy_by_chunk": bool(policy.copy_by_chunk),
            "single_active_replication": bool(policy.single_active_replication), "enabled": policy.enabled}


def rule_wanted(spec: RuleSpec) -> dict[str, Any]:
    return {"endpoint": spec.endpoint, "description": spec.description, "managed": True,
            "source.project": spec.project, "source.repositories": spec.repositories,
            "source.tags": spec.tags or MATCH_ALL, "source.labels": sorted(spec.labels), "source.other_filters": [],
            "destination.namespace": spec.namespace, "destination.flatten": count_to_flatten(spec.flatten),
            "trigger": f"cron {spec.cron}" if spec.trigger == "scheduled" else spec.trigger,
            "bandwidth": speed_to_bandwidth(spec.speed), "override": spec.override,
            "replicate_deletion": spec.replicate_deletion, "copy_by_chunk": spec.copy_by_chunk,
            "single_active_replication": spec.single_active_replication, "enabled": spec.enabled}


def policy_filters(spec: RuleSpec) -> list[ReplicationFilter]:
    """A name filter always; tag and label filters only when they narrow anything."""
    found = [ReplicationFilter(type="name", value=spec.name_filter)]
    if spec.tags not in ("", MATCH_ALL):
        found.append(ReplicationFilter(type="tag", value=spec.tags, decoration="matches"))
    if spec.labels:
        found.append(ReplicationFilter(type="label", value=list(spec.labels), decoration="matches"))
    return found


def policy_body(spec: RuleSpec, registry_id: int) -> ReplicationPolicy:
    """A push policy. Fields at Harbor's own default are left out, so older Harbors accept the body."""
    settings = ReplicationTriggerSettings(cron=spec.cron) if spec.cron else None
    return ReplicationPolicy(
        name=spec.name, description=marker.mark(spec.description), dest_registry=Registry(id=registry_id),
        dest_namespace=spec.namespace or None,
        dest_namespace_replace_count=None if spec.flatten < 0 else spec.flatten,
        trigger=ReplicationTrigger(type=spec.trigger, trigger_settings=settings), filters=policy_filters(spec),
        replicate_deletion=spec.replicate_deletion, override=spec.override, enabled=spec.enabled,
        speed=spec.speed if spec.speed > 0 else None, copy_by_chunk=spec.copy_by_chunk or None,
        single_active_replication=spec.single_active_replication or None)


# --- webhooks ----------------------------------------------------------------------------------------

def webhook_view(policy: WebhookPolicy) -> dict[str, Any]:
    description, managed, _ = marker.split(policy.description)
    target = policy.targets[0] if policy.targets else WebhookTargetObject()
    return {"url": target.address, "auth_header": target.auth_header or "",
            "format": target.payload_format or "Default", "events": sorted(policy.event_types),
            "verify_remote_cert": not target.skip_cert_verify, "targets": len(policy.targets),
            "enabled": policy.enabled, "description": description, "managed": managed}


def webhook_wanted(spec: WebhookSpec, auth_header: str | None) -> dict[str, Any]:
    return {"url": spec.url, "auth_header": auth_header or "", "format": spec.format, "events": sorted(spec.events),
            "verify_remote_cert": spec.verify_remote_cert, "targets": 1, "enabled": spec.enabled,
            "description": spec.description, "managed": True}


def webhook_body(spec: WebhookSpec, auth_header: str | None) -> WebhookPolicy:
    """Default is Harbor's format for an empty one, so it is only sent for CloudEvents (Harbor >= 2.8)."""
    target = WebhookTargetObject(type="http", address=spec.url, auth_header=auth_header or None,
                                 skip_cert_verify=not spec.verify_remote_cert,
                                 payload_format=spec.format if spec.format != "Default" else None)
    return WebhookPolicy(name=spec.name, description=marker.mark(spec.description), targets=[target],
                         event_types=list(spec.events), enabled=spec.enabled)
