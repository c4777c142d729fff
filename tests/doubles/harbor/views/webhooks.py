"""/projects/{project_name_or_id}/webhook/policies: `enabled` defaults to false, names are unique Harbor-wide."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from tests.doubles.harbor.common import body, created, harbor_error, ok, page_of, route, select, state, wire
from tests.doubles.harbor.state import now
from tests.doubles.harbor.views.projects import find_project, not_found

bp = Blueprint("webhooks", __name__)

EVENT_TYPES = {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING",
               "SCANNING_FAILED", "SCANNING_STOPPED", "SCANNING_COMPLETED", "REPLICATION", "TAG_RETENTION"}
PAYLOAD_FORMATS = {"Default", "CloudEvents"}
BASE = "/projects/{project_name_or_id}/webhook/policies"


def _target(item: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    kind, fmt = item.get("type"), item.get("payload_format") or ""
    if kind not in ("http", "slack"):
        return None, f"invalid notify type {kind!r}"
    if fmt and (kind == "slack" or fmt not in PAYLOAD_FORMATS):
        return None, f"invalid payload format {fmt!r} for {kind}"
    if not item.get("address"):
        return None, "the target address cannot be empty"
    # The address is stored as sent; an empty http format is stored as Default.
    return {**item, "payload_format": fmt or ("Default" if kind == "http" else "")}, None


def from_body(data: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The stored fields of a POST/PUT body (full replace), or the reason for a 400."""
    if not data.get("name"):
        return None, "name cannot be empty"
    events = data.get("event_types") or []
    if not events or not set(events) <= EVENT_TYPES:
        return None, f"invalid event types {events!r}"
    if not data.get("targets"):
        return None, "the policy must have at least one target"
    targets = [_target(t) for t in data["targets"]]
    failed = next((why for _, why in targets if why), None)
    # lib.JSONCopy: an omitted `enabled` is false, and a disabled policy never fires.
    return (None, failed) if failed else ({"name": data["name"], "description": data.get("description", ""),
                                           "event_types": events, "targets": [t for t, _ in targets],
                                           "enabled": bool(data.get("enabled"))}, None)


def _lookup(project_name_or_id: str, policy_id: int | None = None):
    """(project, policy, error answer) for a project-scoped call."""
    project = find_project(project_name_or_id)
    if project is None:
        return None, None, not_found(project_name_or_id)
    policy = state().webhook_policies.get(policy_id) if policy_id is not None else None
    if policy_id is not None and (policy is None or policy["project_id"] != project["project_id"]):
        return project, None, harbor_error(404, f"webhook policy {policy_id} not found")
    return project, policy, None


def _refusal(data: dict[str, Any], policy_id: int | None = None):
    fields, why = from_body(data)
    if why:
        return None, harbor_error(400, why)
    if any(p["name"] == fields["name"] and p["id"] != policy_id for p in state().webhook_policies.values()):
        return None, harbor_error(409, f"notification policy {fields['name']} already exists")
    return fields, None


@route(bp, "GET", BASE)
def list_webhook_policies(project_name_or_id: str):
    project, _, error = _lookup(project_name_or_id)
    if error:
        return error
    mine = [p for p in state().webhook_policies.values() if p["project_id"] == project["project_id"]]
    items = select(sorted(mine, key=lambda p: p["id"]), {"name", "id"})
    return items if not isinstance(items, list) else page_of(items, "WebhookPolicy")


@route(bp, "POST", BASE)
def create_webhook_policy(project_name_or_id: str):
    project, _, error = _lookup(project_name_or_id)
    fields, refused = (None, error) if error else _refusal(body())
    if refused:
        return refused
    return created(state().add_webhook_policy(project["project_id"], **fields)["id"])


@route(bp, "GET", BASE + "/{webhook_policy_id}")
def get_webhook_policy(project_name_or_id: str, webhook_policy_id: int):
    _, policy, error = _lookup(project_name_or_id, webhook_policy_id)
    return error or jsonify(wire("WebhookPolicy", policy))


@route(bp, "PUT", BASE + "/{webhook_policy_id}")
def update_webhook_policy(project_name_or_id: str, webhook_policy_id: int):
    _, policy, error = _lookup(project_name_or_id, webhook_policy_id)
    fields, refused = (None, error) if error else _refusal(body(), webhook_policy_id)
    if refused:
        return refused
    policy.update(fields, update_time=now())
    return ok()


@route(bp, "DELETE", BASE + "/{webhook_policy_id}")
def delete_webhook_policy(project_name_or_id: str, webhook_policy_id: int):
    _, policy, error = _lookup(project_name_or_id, webhook_policy_id)
    if error:
        return error
    del state().webhook_policies[webhook_policy_id]
    return ok()
