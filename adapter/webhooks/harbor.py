"""What the bridge asks Harbor about an execution, behind a small interface that harbor_client fills in."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Protocol

from adapter.webhooks.model import repository_of

# Harbor's API statuses (harbor.md §3.2) in the bridge's vocabulary.
API_STATUSES = {"InProgress": "running", "Succeed": "succeeded", "Failed": "failed", "Stopped": "stopped"}
_ERROR_LINE = re.compile(r"\[(ERROR|FATAL)\]")
_TIMESTAMP = re.compile(r"^\S+Z \[(ERROR|FATAL)\] (\[[^\]]*\])?:?\s*")
# Harbor's closing line on every failed copy task; the cause is in an earlier ERROR line.
_WRAP_UP = "got error during the whole transfer period"


class HarborUnavailable(Exception):
    """Harbor could not be asked (unreachable, refused, or an unexpected answer)."""


@dataclass
class FailedTask:
    task_id: int
    repository: str
    reason: str = ""
    log_tail: list[str] = field(default_factory=list)


@dataclass
class ExecutionView:
    status: str  # running | succeeded | failed | stopped
    policy_id: int | None = None
    policy_name: str = ""
    status_text: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    failed_tasks: list[FailedTask] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status != "running"


class ExecutionSource(Protocol):
    def execution(self, execution_id: int) -> ExecutionView: ...

    def failed_tasks(self, execution_id: int) -> list[FailedTask]: ...


def reason_from_log(log_text: str, tail_lines: int) -> tuple[str, list[str]]:
    """The last ERROR line of a job log, without its timestamp, and the log's last lines."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    tail = lines[-tail_lines:]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    errors = [line for line in errors if _WRAP_UP not in line] or errors
    reason = _TIMESTAMP.sub("", errors[-1]) if errors else (tail[-1] if tail else "")
    return reason.strip()[:1000], tail


def _epoch(moment) -> float | None:
    # Harbor reports an unfinished end_time as the zero time 0001-01-01.
    return moment.timestamp() if moment is not None and moment.year > 1970 else None


class HarborSource:
    """An ExecutionSource over harbor_client.HarborClient; every Harbor error becomes HarborUnavailable."""

    def __init__(self, client, tail_lines: int = 20):
        self.client = client
        self.tail_lines = tail_lines
        self._policy_names: dict[int, str] = {}

    def execution(self, execution_id: int) -> ExecutionView:
        from harbor_client.errors import HarborError

        try:
            found = self.client.executions.get(execution_id)
            name = self._policy_name(found.policy_id)
        except HarborError as exc:
            raise HarborUnavailable(type(exc).__name__) from exc
        counts = {"succeeded": found.succeed, "failed": found.failed, "stopped": found.stopped,
                  "running": found.in_progress}
        return ExecutionView(API_STATUSES.get(found.status or "", "running"), found.policy_id, name,
                             found.status_text or "", counts, _epoch(found.start_time), _epoch(found.end_time))

    def _policy_name(self, policy_id: int | None) -> str:
        if not policy_id:
            return ""
        if policy_id not in self._policy_names:
            self._policy_names[policy_id] = self.client.replication_policies.get(policy_id).name or ""
        return self._policy_names[policy_id]

    def failed_tasks(self, execution_id: int) -> list[FailedTask]:
        from harbor_client.errors import HarborError

        found = []
        try:
            for task in self.client.executions.tasks(execution_id, status="Failed"):
                text = self.client.executions.task_log(execution_id, task.id)
                reason, tail = reason_from_log(text, self.tail_lines)
                found.append(FailedTask(task.id, repository_of(task.src_resource), reason, tail))
        except HarborError as exc:
            raise HarborUnavailable(type(exc).__name__) from exc
        return found


def make_source(conf: dict) -> HarborSource:
    """A HarborSource from the `webhooks.harbor` block; the password comes from its env variable."""
    from harbor_client.client import HarborClient

    password = os.environ.get(conf["password_env"])
    if not password:
        raise ValueError(f"webhooks.harbor.password_env: environment variable {conf['password_env']} is not set")
    client = HarborClient(conf["url"], (conf["username"], password), verify=conf["verify_tls"], retries=1)
    return HarborSource(client, conf["log_tail_lines"])
