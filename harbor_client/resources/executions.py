"""Replication executions and their tasks: start, get, list, stop, task logs."""

from __future__ import annotations

from harbor_client.models import ReplicationExecution, ReplicationTask
from harbor_client.pagination import Pages, list_params
from harbor_client.resources._base import Resource
from harbor_client.schemas import load


class ExecutionsResource(Resource):
    # POST /replication/executions
    def start(self, policy_id: int) -> int:
        """Start the policy now; returns the execution id (from Location). Never retried."""
        response = self._client.post("/replication/executions", json={"policy_id": int(policy_id)})
        return self._client.created_id(response)

    # GET /replication/executions/{id}
    def get(self, execution_id: int) -> ReplicationExecution:
        path = f"/replication/executions/{int(execution_id)}"
        return load(ReplicationExecution, self._client.get(path).json())

    # GET /replication/executions  (no `q` here: filters are plain params)
    def list(self, policy_id: int | None = None, status: str | None = None, trigger: str | None = None,
             sort: str | None = None, page_size: int = 100) -> Pages[ReplicationExecution]:
        params = list_params(sort=sort, page_size=page_size, policy_id=policy_id, status=status, trigger=trigger)
        return self._client.pages("/replication/executions", params, lambda i: load(ReplicationExecution, i))

    # PUT /replication/executions/{id}
    def stop(self, execution_id: int) -> None:
        """Ask Harbor to stop every task of the execution."""
        self._client.put(f"/replication/executions/{int(execution_id)}")

    # GET /replication/executions/{id}/tasks
    def tasks(self, execution_id: int, status: str | None = None, resource_type: str | None = None,
              sort: str | None = None, page_size: int = 100) -> Pages[ReplicationTask]:
        params = list_params(sort=sort, page_size=page_size, status=status, resource_type=resource_type)
        path = f"/replication/executions/{int(execution_id)}/tasks"
        return self._client.pages(path, params, lambda item: load(ReplicationTask, item))

    # GET /replication/executions/{id}/tasks/{task_id}/log
    def task_log(self, execution_id: int, task_id: int) -> str:
        """The task's job log, as plain text."""
        path = f"/replication/executions/{int(execution_id)}/tasks/{int(task_id)}/log"
        return self._client.get(path, accept="text/plain").text
