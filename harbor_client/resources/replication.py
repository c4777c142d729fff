"""Replication policies: list, get, create, update (full replace), delete, get by name."""

from __future__ import annotations

from harbor_client.models import ReplicationPolicy
from harbor_client.pagination import Pages, list_params, query
from harbor_client.resources._base import Resource
from harbor_client.schemas import dump, load


class ReplicationPoliciesResource(Resource):
    # GET /replication/policies
    def list(self, q: str | None = None, sort: str | None = None, page_size: int = 100) -> Pages[ReplicationPolicy]:
        params = list_params(q, sort, page_size)
        return self._client.pages("/replication/policies", params, lambda item: load(ReplicationPolicy, item))

    # GET /replication/policies/{id}
    def get(self, policy_id: int) -> ReplicationPolicy:
        return load(ReplicationPolicy, self._client.get(f"/replication/policies/{int(policy_id)}").json())

    def get_by_name(self, name: str) -> ReplicationPolicy | None:
        """The policy with exactly this name, or None."""
        return next((p for p in self.list(q=query(name=name)) if p.name == name), None)

    # POST /replication/policies
    def create(self, policy: ReplicationPolicy) -> int:
        """Create; returns the new id (from Location). `deletion` is always sent."""
        body = self._client.check_version("ReplicationPolicy", dump(policy))
        return self._client.created_id(self._client.post("/replication/policies", json=body))

    # PUT /replication/policies/{id}
    def update(self, policy_id: int, policy: ReplicationPolicy) -> None:
        """Replace the whole policy: every field not sent is reset, so send a complete object."""
        body = self._client.check_version("ReplicationPolicy", dump(policy))
        self._client.put(f"/replication/policies/{int(policy_id)}", json=body)

    # DELETE /replication/policies/{id}
    def delete(self, policy_id: int) -> None:
        """Delete; PreconditionFailed while one of its executions is still running."""
        self._client.delete(f"/replication/policies/{int(policy_id)}")
