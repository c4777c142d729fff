"""/projects/{project_name_or_id}/webhook/policies: `enabled` defaults to false, names are unique Harbor-wide."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from tests.doubles.harbor.common import (
    body,
    created,
    fail,
    found,
    name_free,
    ok,
    page_of,
    route,
    select,
    state,
    wire,
)
from tests.doubles.harbor.state import now
from tests.doubles.harbor.views.projects import find_project

bp = Blueprint("webhooks", __name__)

EVENT_TYPES = {"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING",
               "SCANNING_FAILED", "SCANNING_STOPPED", "SCANNING_COMPLETED", "REPLICATION", "TAG_RETENTION"}
PAYLOAD_FORMATS = {"Default", "CloudEvents"}
BASE = "/projects/{project_name_or_id}/webhook/policies"


def _target(item: dict[str, Any]) -> dict[str, Any]:
    kind, fmt = item.get("type"), item.get("payload_format") or ""
    if kind not in ("http", "slack"):
        fail(400, f"invalid notify type {kind!r}")
    if fmt and (kind == "slack" or fmt not in PAYLOAD_FORMATS):
        fail(400, f"invalid payload format {fmt!r} for {kind}")
    if not item.get("address"):
        fail(400, "the target address cannot be empty")
    # The address is stored as sent; an empty http format is stored as Default.
    return {**item, "payload_format": fmt or ("Default" if kind == "http" else "")}


def from_body(data: dict[str, Any], policy_id: int | None = None) -> dict[str, Any]:
    """The stored fields of a POST/PUT body; PUT replaces them all."""
    if not data.get("name"):
        fail(400, "name cannot be empty")
    events = data.get("event_types") or []
    if not events or not set(events) <= EVENT_TYPES:
        fail(400, f"invalid event types {events!r}")
    if not data.get("targets"):
        fail(400, "the policy must have at least one target")
    targets = [_target(t) for t in data["targets"]]
    name_free(state().webhook_policies, data["name"], policy_id, "notification policy")
    # lib.JSONCopy: an omitted `enabled` is false, and a disabled policy never fires.
    return {"name": data["name"], "description": data.get("description", ""), "event_types": events,
            "targets": targets, "enabled": bool(data.get("enabled"))}


def _project(project_name_or_id: str) -> dict[str, Any]:
    return found(find_project(project_name_or_id), f"project {project_name_or_id}")


def _policy(project_name_or_id: str, policy_id: int) -> dict[str, Any]:
    project = _project(project_name_or_id)
    policy = state().webhook_policies.get(policy_id)
    if policy is None or policy["project_id"] != project["project_id"]:
        fail(404, f"webhook policy {policy_id} not found")
    return policy


@route(bp, "GET", BASE)
def list_webhook_policies(project_name_or_id: str):
    project_id = _project(project_name_or_id)["project_id"]
    mine = [p for p in state().webhook_policies.values() if p["project_id"] == project_id]
    return page_of(select(sorted(mine, key=lambda p: p["id"]), {"name", "id"}), "WebhookPolicy")


@route(bp, "POST", BASE)
def create_webhook_policy(project_name_or_id: str):
    project_id = _project(project_name_or_id)["project_id"]
    return created(state().add_webhook_policy(project_id, **from_body(body()))["id"])


@route(bp, "GET", BASE + "/{webhook_policy_id}")
def get_webhook_policy(project_name_or_id: str, webhook_policy_id: int):
    return jsonify(wire("WebhookPolicy", _policy(project_name_or_id, webhook_policy_id)))


@route(bp, "PUT", BASE + "/{webhook_policy_id}")
def update_webhook_policy(project_name_or_id: str, webhook_policy_id: int):
    policy = _policy(project_name_or_id, webhook_policy_id)
    policy.update(from_body(body(), webhook_policy_id), update_time=now())
    return ok()


@route(bp, "DELETE", BASE + "/{webhook_policy_id}")
def delete_webhook_policy(project_name_or_id: str, webhook_policy_id: int):
    del state().webhook_policies[_policy(project_name_or_id, webhook_policy_id)["id"]]
    return ok()
