"""Projects: read one by name or id."""

from __future__ import annotations

from harbor_client.models import Project
from harbor_client.resources._base import Resource
from harbor_client.schemas import load

# Without it Harbor reads an all-digit project name as an id.
BY_NAME = {"X-Is-Resource-Name": "true"}


class ProjectsResource(Resource):
    # GET /projects/{project_name_or_id}
    def get(self, name_or_id: str | int) -> Project:
        """A project by name (str) or id (int)."""
        headers = BY_NAME if isinstance(name_or_id, str) else None
        path = f"/projects/{self._client.segment(name_or_id)}"
        return load(Project, self._client.get(path, headers=headers).json())
