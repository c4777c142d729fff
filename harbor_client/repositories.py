"""Projects, a project's repositories and their artifacts (tags, labels): what rules and prunes look at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harbor_client.client import HarborClient


@dataclass(frozen=True)
class Repository:
    name: str  # with the project: library/team/app
    artifact_count: int


@dataclass(frozen=True)
class Artifact:
    digest: str
    tags: tuple[str, ...]
    labels: tuple[str, ...]


def _repository(item: dict[str, Any]) -> Repository:
    return Repository(item["name"], int(item.get("artifact_count") or 0))


def _artifact(item: dict[str, Any]) -> Artifact:
    return Artifact(item.get("digest", ""), tuple(t["name"] for t in item.get("tags") or []),
                    tuple(label["name"] for label in item.get("labels") or []))


# GET /projects
def list_project_names(client: HarborClient) -> list[str]:
    return list(client.pages("/projects", {"page_size": 100}, lambda item: item["name"]))


# GET /projects/{project_name}/repositories
def list_repositories(client: HarborClient, project: str) -> list[Repository]:
    path = f"/projects/{client.segment(project)}/repositories"
    return list(client.pages(path, {"page_size": 100}, _repository))


# GET /projects/{project_name}/repositories/{repository_name}/artifacts
def list_artifacts(client: HarborClient, repository: str) -> list[Artifact]:
    """`repository` with its project; the rest is encoded twice, as Harbor wants a name holding '/'."""
    project, _, name = repository.partition("/")
    path = f"/projects/{client.segment(project)}/repositories/{client.segment(client.segment(name))}/artifacts"
    return list(client.pages(path, {"page_size": 100, "with_tag": "true", "with_label": "true"}, _artifact))
