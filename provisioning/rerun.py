"""`replicate --retry-failed`: re-run only the repositories whose tasks failed in a rule's last execution."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harbor_client.client import HarborClient
from harbor_client.errors import HarborError
from harbor_client.models import (
    ReplicationExecution,
    ReplicationFilter,
    ReplicationPolicy,
    ReplicationTrigger,
    resource_name,
)
from provisioning import marker

_GLOB_SPECIAL = set("*?[]{}\\,")


@dataclass
class RetryRun:
    policy_id: int
    policy_name: str
    execution_id: int
    repositories: list[str]
    source_execution: ReplicationExecution


def last_execution(client: HarborClient, policy_id: int) -> ReplicationExecution | None:
    return next(iter(client.executions.list(policy_id=policy_id, sort="-start_time", page_size=1)), None)


def failed_repositories(client: HarborClient, execution_id: int) -> list[str]:
    """Source repositories of the execution's failed copy tasks, in task order."""
    tasks = client.executions.tasks(execution_id, status="Failed")
    return list(dict.fromkeys(resource_name(t.src_resource) for t in tasks if t.operation in (None, "copy")))


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def name_pattern(repositories: list[str]) -> str:
    """A doublestar pattern matching exactly these repositories, keeping a literal project in front."""
    projects = {r.split("/", 1)[0] for r in repositories}
    if len(repositories) == 1:
        return _escape(repositories[0])
    if len(projects) == 1:
        project = projects.pop()
        return f"{_escape(project)}/{{{','.join(_escape(r.split('/', 1)[1]) for r in repositories)}}}"
    return "{" + ",".join(_escape(r) for r in repositories) + "}"


def retry_policy(policy: ReplicationPolicy, name: str, repositories: list[str], execution_id: int) -> ReplicationPolicy:
    filters = [f for f in policy.filters or [] if f.type != "name"]
    note = f"swr-bridge --retry-failed of execution {execution_id} of rule {policy.name}"
    return dataclasses.replace(
        policy, id=None, name=name, description=marker.mark(note), trigger=ReplicationTrigger(type="manual"),
        filters=[ReplicationFilter(type="name", value=name_pattern(repositories)), *filters],
        replicate_deletion=False, enabled=True)


def start_retry(client: HarborClient, policy: ReplicationPolicy) -> RetryRun | None:
    """Create (or refresh) the temporary policy and start it; None when the last execution had no failures.

    Harbor can neither re-run a task nor start a policy on a subset (harbor#16331). So the retry runs a
    temporary copy of the rule, `<rule>-retry-<execution id>`: the same endpoint, namespace, flattening,
    tag and label filters and options, but a name filter listing only the failed repositories
    (`library/{app,team/api}`, doublestar alternatives as Harbor matches them), a manual trigger and no
    deletion replication. The copy is deleted once its execution is final; Harbor refuses to delete a
    policy with a running execution, so after a timeout it is left (and reused by the next retry).
    Its description carries the swr-bridge marker, so `apply --prune` removes a leftover as well.
    """
    source = last_execution(client, policy.id)
    repositories = failed_repositories(client, source.id) if source else []
    if not repositories:
        return None
    name = f"{policy.name}-retry-{source.id}"
    body = retry_policy(policy, name, repositories, source.id)
    existing = client.replication_policies.get_by_name(name)
    if existing is None:
        policy_id = client.replication_policies.create(body)
    else:
        policy_id = existing.id
        client.replication_policies.update(policy_id, body)
    return RetryRun(policy_id, name, client.executions.start(policy_id), repositories, source)


def cleanup(client: HarborClient, run: RetryRun) -> str | None:
    """Delete the temporary policy; the reason it stays otherwise."""
    try:
        client.replication_policies.delete(run.policy_id)
    except HarborError as exc:
        return f"the temporary rule {run.policy_name} stays in Harbor ({exc}); delete it later with " \
               f"`swr-bridge rules delete {run.policy_name}`"
    return None
