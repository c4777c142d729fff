"""/replication/executions: start, list, get, stop, tasks and task logs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from tests.doubles.harbor.common import (
    arg,
    body,
    created,
    found,
    harbor_error,
    ok,
    page_of,
    route,
    state,
    wire,
)

bp = Blueprint("executions", __name__)
# Filters take Harbor's API names; a task "InProgress" is any of these jobservice states.
IN_PROGRESS = {"InProgress", "Pending", "Scheduled", "Running"}


def public(execution: dict[str, Any]) -> dict[str, Any]:
    return wire("ReplicationExecution", {**execution, **state().counters(execution["id"])})


def _execution(execution_id: int) -> dict[str, Any]:
    return found(state().executions.get(execution_id), f"replication execution {execution_id}")


def _status_matches(status: str, wanted: str | None) -> bool:
    return wanted is None or status == wanted or (wanted == "InProgress" and status in IN_PROGRESS)


@route(bp, "POST", "/replication/executions")
def start_execution(**_):
    policy_id = body().get("policy_id")
    policy = found(state().policies.get(policy_id), f"replication policy {policy_id}")
    if not policy["enabled"]:
        return harbor_error(412, f"the policy {policy_id} is disabled")
    return created(state().start_execution(policy)["id"])


@route(bp, "GET", "/replication/executions")
def list_executions(**_):
    wanted = {k: arg(k) for k in ("policy_id", "trigger") if arg(k) is not None}
    items = [e for e in sorted(state().executions.values(), key=lambda e: -e["id"])
             if all(e[k] == v for k, v in wanted.items()) and _status_matches(e["status"], arg("status"))]
    return page_of([public(e) for e in items], "ReplicationExecution")


@route(bp, "GET", "/replication/executions/{id}")
def get_execution(id: int):
    return jsonify(public(_execution(id)))


@route(bp, "PUT", "/replication/executions/{id}")
def stop_execution(id: int):
    state().stop_execution(_execution(id))
    return ok()


@route(bp, "GET", "/replication/executions/{id}/tasks")
def list_tasks(id: int):
    _execution(id)
    items = [t for t in state().tasks_of(id) if _status_matches(t["status"], arg("status"))
             and arg("resource_type") in (None, t["resource_type"])]
    return page_of(items, "ReplicationTask")


@route(bp, "GET", "/replication/executions/{id}/tasks/{task_id}/log")
def task_log(id: int, task_id: int):
    task = state().tasks.get(task_id)
    if task is None or task["execution_id"] != id:
        return harbor_error(404, f"task {task_id} not found in execution {id}")
    return Response(state().task_logs.get(task_id, ""), content_type="text/plain")
