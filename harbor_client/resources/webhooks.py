"""Webhook policies of one project: list, get, create, update (full replace), delete."""

from __future__ import annotations

from harbor_client.models import WebhookPolicy
from harbor_client.pagination import Pages, list_params, query
from harbor_client.resources._base import Resource
from harbor_client.resources.projects import BY_NAME
from harbor_client.schemas import dump, load


class WebhookPoliciesResource(Resource):
    """`project` is a name (str) or an id (int), as for `projects.get`."""

    def _path(self, project: str | int, policy_id: int | None = None) -> str:
        base = f"/projects/{self._client.segment(project)}/webhook/policies"
        return base if policy_id is None else f"{base}/{int(policy_id)}"

    @staticmethod
    def _headers(project: str | int) -> dict[str, str] | None:
        return BY_NAME if isinstance(project, str) else None

    # GET /projects/{project_name_or_id}/webhook/policies
    def list(self, project: str | int, q: str | None = None, sort: str | None = None,
             page_size: int = 100) -> Pages[WebhookPolicy]:
        params = list_params(q, sort, page_size)
        return self._client.pages(self._path(project), params, lambda i: load(WebhookPolicy, i),
                                  headers=self._headers(project))

    # GET /projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}
    def get(self, project: str | int, policy_id: int) -> WebhookPolicy:
        response = self._client.get(self._path(project, policy_id), headers=self._headers(project))
        return load(WebhookPolicy, response.json())

    # POST /projects/{project_name_or_id}/webhook/policies
    def create(self, project: str | int, policy: WebhookPolicy) -> int:
        """Create; returns the new id (from Location). `enabled` is always sent."""
        body = self._client.check_version("WebhookPolicy", dump(policy))
        response = self._client.post(self._path(project), json=body, headers=self._headers(project))
        return self._client.created_id(response)

    # PUT /projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}
    def update(self, project: str | int, policy_id: int, policy: WebhookPolicy) -> None:
        """Replace the whole webhook policy."""
        body = self._client.check_version("WebhookPolicy", dump(policy))
        self._client.put(self._path(project, policy_id), json=body, headers=self._headers(project))

    # DELETE /projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}
    def delete(self, project: str | int, policy_id: int) -> None:
        self._client.delete(self._path(project, policy_id), headers=self._headers(project))

    def get_by_name(self, project: str | int, name: str) -> WebhookPolicy | None:
        """The project's webhook policy with exactly this name, or None."""
        return next((p for p in self.list(project, q=query(name=name)) if p.name == name), None)
