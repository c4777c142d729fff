"""/replication/policies: Harbor reads `deletion` (not `replicate_deletion`) and PUT replaces everything."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify

from tests.doubles.harbor.common import (
    body,
    created,
    fail,
    found,
    harbor_error,
    name_free,
    ok,
    page_of,
    route,
    select,
    state,
    wire,
)
from tests.doubles.harbor.state import FINAL_STATUSES, LOCAL_REGISTRY
from tests.doubles.harbor.views.registries import public as registry_public

bp = Blueprint("policies", __name__)

TRIGGERS = {"manual", "event_based", "scheduled"}
FILTER_TYPES = {"name", "tag", "label", "resource"}
# distribution's reference.NameRegexp: path components of lowercase alnum joined by separators, '/'-separated.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
NAMESPACE_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


def public(record: dict[str, Any]) -> dict[str, Any]:
    """GET's shape: both registries embedded (id 0 = Local), both deletion fields filled."""
    def embed(registry_id: int) -> dict[str, Any]:
        # convertRegistry masks the embedded secrets too.
        return LOCAL_REGISTRY if registry_id == 0 else registry_public(state().registries[registry_id])

    shown = {k: v for k, v in record.items() if not k.endswith("_registry_id") and k != "creator"}
    shown.update(src_registry=embed(record["src_registry_id"]), dest_registry=embed(record["dest_registry_id"]),
                 replicate_deletion=record["deletion"])
    return wire("ReplicationPolicy", shown)


def _cron_problem(cron: str) -> str | None:
    fields = cron.split()
    if len(fields) != 6 or fields[0] != "0" or fields[1] == "*":
        return f"invalid cron {cron!r}: six fields, the first '0' and the second not '*'"
    return None


def _filter_problem(item: dict[str, Any]) -> str | None:
    kind, value, decoration = item.get("type"), item.get("value"), item.get("decoration")
    if kind not in FILTER_TYPES:
        return f"invalid filter type {kind!r}"
    if kind == "label":
        ok_value = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok_value = isinstance(value, str) and (kind != "resource" or value in ("artifact", "image"))
    if not ok_value:
        return f"invalid value for the {kind} filter: {value!r}"
    if decoration and (kind not in ("tag", "label") or decoration not in ("matches", "excludes")):
        return f"invalid decoration {decoration!r} for the {kind} filter"
    return None


def _problem(data: dict[str, Any], src: int, dest: int) -> str | None:
    """Harbor's Validate() and validatePolicy(), first failure only."""
    trigger = data.get("trigger") or {}
    checks = [
        (not data.get("name"), "name cannot be empty"),
        ((src == 0) == (dest == 0), "either src_registry or dest_registry should be empty and the other one "
                                    "shouldn't be empty"),
        (any(r and r not in state().registries for r in (src, dest)), f"registry {src or dest} not found"),
        (trigger.get("type", "manual") not in TRIGGERS, f"invalid trigger type {trigger.get('type')!r}"),
        (data.get("dest_namespace") and not NAMESPACE_RE.match(data["dest_namespace"]),
         f"invalid destination namespace {data.get('dest_namespace')!r}"),
    ]
    found = next((message for failed, message in checks if failed), None)
    if found is None and trigger.get("type") == "scheduled":
        found = _cron_problem((trigger.get("trigger_settings") or {}).get("cron", ""))
    return found or next(filter(None, map(_filter_problem, data.get("filters") or [])), None)


def from_body(data: dict[str, Any], policy_id: int | None = None) -> dict[str, Any]:
    """The stored record for a POST/PUT body, rebuilt field by field like the handler (so PUT replaces)."""
    src, dest = ((data.get(k) or {}).get("id") or 0 for k in ("src_registry", "dest_registry"))
    found = _problem(data, src, dest)
    if found:
        fail(400, found)
    if data.get("single_active_replication") and (data.get("trigger") or {}).get("type") == "event_based":
        fail(500, "single active replication with an event_based trigger")  # a plain fmt.Errorf: no code
    name_free(state().policies, data["name"], policy_id, "replication policy")
    count = data.get("dest_namespace_replace_count")
    return {"name": data["name"], "description": data.get("description", ""), "src_registry_id": src,
            "dest_registry_id": dest, "dest_namespace": data.get("dest_namespace", ""),
            "dest_namespace_replace_count": -1 if count is None else count,
            "trigger": data.get("trigger") or {"type": "manual"}, "filters": data.get("filters") or [],
            "deletion": bool(data.get("deletion")),  # replicate_deletion is never read
            "override": bool(data.get("override")), "enabled": bool(data.get("enabled")),
            "speed": max(0, data.get("speed") or 0), "copy_by_chunk": bool(data.get("copy_by_chunk")),
            "single_active_replication": bool(data.get("single_active_replication"))}


def _policy(policy_id: int) -> dict[str, Any]:
    return found(state().policies.get(policy_id), f"replication policy {policy_id}")


@route(bp, "GET", "/replication/policies")
def list_policies(**_):
    items = select(sorted(state().policies.values(), key=lambda p: p["id"]), {"name", "id"})
    return page_of([public(p) for p in items], "ReplicationPolicy")


@route(bp, "POST", "/replication/policies")
def create_policy(**_):
    return created(state().store_policy(from_body(body()))["id"])


@route(bp, "GET", "/replication/policies/{id}")
def get_policy(id: int):
    return jsonify(public(_policy(id)))


@route(bp, "PUT", "/replication/policies/{id}")
def update_policy(id: int):
    _policy(id)
    state().store_policy(from_body(body(), id), id)
    return ok()


@route(bp, "DELETE", "/replication/policies/{id}")
def delete_policy(id: int):
    _policy(id)
    running = [e["id"] for e in state().executions.values() if e["policy_id"] == id and e["status"] not in FINAL_STATUSES]
    if running:
        return harbor_error(412, f"the policy {id} has running executions {running}, can not delete it")
    del state().policies[id]
    return ok()
