"""What the bridge asks Harbor about an execution, behind a small interface that harbor_client fills in."""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from harbor_client.models import resource_name

# Harbor's API statuses (harbor.md §3.2) in the bridge's vocabulary.
API_STATUSES = {"InProgress": "running", "Succeed": "succeeded", "Failed": "failed", "Stopped": "stopped"}
_ERROR_LINE = re.compile(r"\[(ERROR|FATAL)\]")
_TIMESTAMP = re.compile(r"^\S+Z \[(ERROR|FATAL)\] (\[[^\]]*\])?:?\s*")
# Harbor's closing line on every failed copy task; the cause is in an earlier ERROR line.
_WRAP_UP = "got error during the whole transfer period"
# How many of a policy's newest executions resolving and watching look at, and how long a policy list is reused.
RECENT = 50
POLICIES_TTL = 60.0


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
    id: int | None = None
    remote_name: str = ""
    mode: str = ""
    project: str = ""
    trigger: str = ""

    @property
    def final(self) -> bool:
        return self.status != "running"


@dataclass(frozen=True)
class ExecutionHint:
    """What id-less events (Harbor < 2.13) say about their execution: enough to find it in Harbor's API."""

    mode: str  # push | pull
    remote_name: str
    remote_endpoint: str
    description: str
    trigger: str  # manual | scheduled | event_based
    started_at: int  # execution_timestamp, Unix seconds

    @classmethod
    def of(cls, row) -> ExecutionHint:
        return cls(row.mode, row.remote_name, row.remote_endpoint, row.policy, row.trigger, row.started_at)


class ExecutionSource(Protocol):
    def execution(self, execution_id: int) -> ExecutionView: ...

    def failed_tasks(self, execution_id: int) -> list[FailedTask]: ...

    def resolve(self, hint: ExecutionHint) -> int | None: ...

    def recent_executions(self, policies: str, since: float) -> list[ExecutionView]: ...


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


def _view(found, policy_name: str) -> ExecutionView:
    counts = {"succeeded": found.succeed, "failed": found.failed, "stopped": found.stopped,
              "running": found.in_progress}
    return ExecutionView(API_STATUSES.get(found.status or "", "running"), found.policy_id, policy_name,
                         found.status_text or "", counts, _epoch(found.start_time), _epoch(found.end_time),
                         id=found.id, trigger=found.trigger or "")


def _mode(policy) -> str:
    # A push policy's source is the local Harbor: no registry, or Harbor's registry id 0.
    return "pull" if policy.src_registry is not None and policy.src_registry.id else "push"


def _project(policy) -> str:
    """The local project a push policy's name filter names ("library/**" -> "library"), when it names one."""
    found = next((f.value for f in policy.filters or () if f.type == "name" and isinstance(f.value, str)), "")
    first = found.split("/", 1)[0] if "/" in found else ""
    return "" if _mode(policy) == "pull" or any(c in first for c in "*?[{") else first


def _remote(policy):
    return policy.src_registry if _mode(policy) == "pull" else policy.dest_registry


def _replicates_to(policy, hint: ExecutionHint) -> bool:
    remote = _remote(policy)
    if remote is None or _mode(policy) != hint.mode or (policy.description or "") != hint.description:
        return False
    return remote.name == hint.remote_name or (remote.url or "").rstrip("/") == hint.remote_endpoint.rstrip("/")


class HarborSource:
    """An ExecutionSource over harbor_client.HarborClient; every Harbor error becomes HarborUnavailable."""

    def __init__(self, client, tail_lines: int = 20):
        self.client = client
        self.tail_lines = tail_lines
        self._policy_names: dict[int, str] = {}
        self._listed: tuple[float, list] | None = None

    def execution(self, execution_id: int) -> ExecutionView:
        from harbor_client.errors import HarborError

        try:
            found = self.client.executions.get(execution_id)
            name = self._policy_name(found.policy_id)
        except HarborError as exc:
            raise HarborUnavailable(type(exc).__name__) from exc
        return _view(found, name)

    def _policies(self, fresh: bool = False) -> list:
        """Harbor's replication policies, listed at most once a POLICIES_TTL unless `fresh`."""
        if fresh or self._listed is None or self._listed[0] < time.monotonic() - POLICIES_TTL:
            self._listed = (time.monotonic(), list(self.client.replication_policies.list()))
            self._policy_names.update({p.id: p.name or "" for p in self._listed[1]})
        return self._listed[1]

    def resolve(self, hint: ExecutionHint) -> int | None:
        """The one execution of a policy replicating to the hint's registry with its description, trigger and
        start second; None when Harbor lists none, or more than one."""
        from harbor_client.errors import HarborError

        found = set()
        try:
            for policy in self._policies():
                if not _replicates_to(policy, hint):
                    continue
                recent = self.client.executions.list(policy_id=policy.id, trigger=hint.trigger or None,
                                                      page_size=RECENT)
                found.update(e.id for e in itertools.islice(recent, RECENT)
                             if e.start_time is not None and int(e.start_time.timestamp()) == hint.started_at)
        except HarborError as exc:
            raise HarborUnavailable(type(exc).__name__) from exc
        return found.pop() if len(found) == 1 else None

    def recent_executions(self, policies: str, since: float) -> list[ExecutionView]:
        """The newest executions, started since `since`, of the policies whose name matches the glob."""
        from harbor_client.errors import HarborError

        found = []
        try:
            for policy in self._policies(fresh=True):  # once a watch interval: a new policy is watched at once
                if not fnmatch.fnmatchcase(policy.name or "", policies):
                    continue
                remote = _remote(policy)
                for item in itertools.islice(self.client.executions.list(policy_id=policy.id, page_size=RECENT),
                                             RECENT):
                    view = _view(item, policy.name or "")
                    if view.started_at is not None and view.started_at >= since:
                        view.remote_name, view.mode = (remote.name or "") if remote else "", _mode(policy)
                        view.project = _project(policy)
                        found.append(view)
        except HarborError as exc:
            raise HarborUnavailable(type(exc).__name__) from exc
        return found

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
                found.append(FailedTask(task.id, resource_name(task.src_resource), reason, tail))
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
