"""GET /projects and /projects/{project_name_or_id}, and the project lookup other project-scoped views use."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from tests.doubles.harbor.common import arg, found, page_of, route, select, state, wire

bp = Blueprint("projects", __name__)


def find_project(name_or_id: str) -> dict[str, Any] | None:
    return state().project(name_or_id, by_name=bool(arg("X-Is-Resource-Name")))


@route(bp, "GET", "/projects/{project_name_or_id}")
def get_project(project_name_or_id: str):
    return jsonify(wire("Project", found(find_project(project_name_or_id), f"project {project_name_or_id}")))


@route(bp, "GET", "/projects")
def list_projects(**_):
    items = select(sorted(state().projects.values(), key=lambda p: p["project_id"]), {"name", "project_id"})
    return page_of(items, "Project")
