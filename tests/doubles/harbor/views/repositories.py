"""/projects/{project_name}/repositories and their artifacts: what `swr-bridge preview` lists."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from flask import Blueprint

from tests.doubles.harbor.common import arg, found, page_of, route, select, state

bp = Blueprint("repositories", __name__)
BASE = "/projects/{project_name}/repositories"


def _project(project_name: str) -> dict[str, Any]:
    return found(state().project(project_name, by_name=True), f"project {project_name}")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


@route(bp, "GET", BASE)
def list_repositories(project_name: str):
    project_id = _project(project_name)["project_id"]
    mine = sorted((r for r in state().repositories.values() if r["project_id"] == project_id), key=lambda r: r["name"])
    return page_of([_public(r) for r in select(mine, {"name"})], "Repository")


@route(bp, "GET", BASE + "/{repository_name}/artifacts")
def list_artifacts(project_name: str, repository_name: str):
    # The swagger asks for a name with '/' to be encoded twice; the server has decoded it once already,
    # so a client that encoded it once never gets here (its '/' splits the path: no route, a violation).
    name = f"{_project(project_name)['name']}/{unquote(repository_name)}"
    record = found(next((r for r in state().repositories.values() if r["name"] == name), None),
                   f"repository {name}")
    items = []
    for artifact in record["_artifacts"]:
        shown = {**artifact}
        if not arg("with_tag"):
            shown.pop("tags")
        if not arg("with_label"):
            shown.pop("labels")
        items.append(shown)
    return page_of(items, "Artifact")
