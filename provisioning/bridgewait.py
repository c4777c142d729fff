"""`replicate --wait` through the webhook bridge: long polls on its API until the execution's verdict is in.

The bridge hears every task's webhook and decides when an execution is final (adapter/webhooks/grouping.py),
so the CLI asks it, not Harbor: one request per long poll (30 s) while nothing is final, none to Harbor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from harbor_client.models import ReplicationExecution, ReplicationTask
from provisioning.follow import FollowTimeout, Snapshot

LONG_POLL = 30.0  # the bridge holds each request this long at most (its limit is 60 s)
TRIES = 3  # failed requests in a row before the bridge counts as unreachable
_PAUSE = 2.0  # between those tries
_CONNECT_TIMEOUT = 5.0
_STATUSES = {"succeeded": "Succeed", "failed": "Failed", "stopped": "Stopped"}


class BridgeUnavailable(Exception):
    """The bridge cannot give this execution's verdict; the message says why (the CLI then polls Harbor)."""


@dataclass(frozen=True)
class BridgeTarget:
    url: str
    token: str


def _task(item: dict[str, Any], execution_id: int, verdict: str | None) -> ReplicationTask:
    if item.get("done"):
        status = _STATUSES.get(item["status"], "InProgress")
    else:  # running, or failed with attempts left; a settled success means Harbor saw it end
        status = "Succeed" if verdict == "Succeed" else "InProgress"
    return ReplicationTask(id=item["task_id"], execution_id=execution_id, status=status,
                           src_resource=item.get("repository"), resource_type="artifact")


def snapshot(data: dict[str, Any]) -> Snapshot:
    """The bridge's execution (GET /api/v1/executions/<id>) in harbor_client's terms."""
    summary = data.get("summary") or {}
    verdict = _STATUSES.get(summary.get("status", "")) if data.get("settled") else None
    tasks = [_task(item, data["execution_id"], verdict) for item in data.get("tasks", [])]
    counts = summary.get("counts") or {}
    execution = ReplicationExecution(
        id=data["execution_id"], policy_id=summary.get("policy_id"), status=verdict or "InProgress",
        trigger=data.get("trigger"), status_text=summary.get("status_text") or "",
        total=summary.get("total", len(tasks)), failed=counts.get("failed", 0), succeed=counts.get("succeeded", 0),
        in_progress=counts.get("running", 0), stopped=counts.get("stopped", 0))
    return Snapshot(execution, tasks)


def log_tails(data: dict[str, Any]) -> dict[int, list[str]]:
    """The log tails the bridge fetched from Harbor for failed tasks (when it has `harbor:`)."""
    return {a["task_id"]: a["log_tail"] for a in (data.get("summary") or {}).get("failed_artifacts", [])
            if a.get("log_tail")}


class BridgeFollower:
    """Follows one execution on the bridge; BridgeUnavailable when it cannot, FollowTimeout after `timeout`."""

    def __init__(self, target: BridgeTarget, session: requests.Session, *, grace: float = 60.0,
                 poll: float = LONG_POLL, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.target, self.session, self.grace, self.poll = target, session, grace, poll
        self.clock, self.sleep = clock, sleep
        self.requests = 0

    def _request(self, execution_id: int, params: dict[str, str]) -> requests.Response:
        self.requests += 1
        wait = float(params["timeout"].rstrip("s"))
        return self.session.get(f"{self.target.url.rstrip('/')}/api/v1/executions/{execution_id}", params=params,
                                headers={"Authorization": f"Bearer {self.target.token}"},
                                timeout=(_CONNECT_TIMEOUT, wait + 15))

    def follow(self, execution_id: int, *, timeout: float | None = None,
               report: Callable[[Snapshot, float], None] | None = None) -> tuple[Snapshot, dict[int, list[str]]]:
        """The settled snapshot and the failed tasks' log tails the bridge has."""
        start, snap, failures = self.clock(), None, 0
        while True:
            elapsed = self.clock() - start
            if timeout is not None and elapsed >= timeout:
                if snap is None:
                    raise BridgeUnavailable(f"the bridge had not heard of execution {execution_id} within {timeout:g}s")
                raise FollowTimeout(snap, timeout)
            bounds = [self.poll, self.grace - elapsed if snap is None else self.poll]
            limit = max(0.0, min(bounds + ([timeout - elapsed] if timeout is not None else [])))
            # Only a verdict ends a poll early (no since=): one request per poll whatever the tasks do.
            params = {"wait": "final", "timeout": f"{limit:.3f}s"}
            asked = self.clock()
            try:
                resp = self._request(execution_id, params)
            except requests.RequestException as exc:
                failures = self._failed(failures, f"the bridge at {self.target.url} is unreachable "
                                                  f"({type(exc).__name__})")
                continue
            if resp.status_code == 404 and snap is None:
                # The bridge held the request for the poll; one that does not (an older bridge) is not asked faster.
                self.sleep(max(0.0, limit - (self.clock() - asked)))
                if self.clock() - start >= self.grace:
                    raise BridgeUnavailable(
                        f"the bridge has not heard of execution {execution_id} after {self.grace:g}s (no webhook "
                        "policy to it, or a Harbor older than 2.13 and no harbor: section on the bridge?)")
                continue
            if resp.status_code == 503 and resp.headers.get("Retry-After", "").isdigit():
                self.sleep(float(resp.headers["Retry-After"]))  # the bridge's own limit of waiters
                continue
            if resp.status_code != 200:
                failures = self._failed(failures, f"the bridge answered {resp.status_code}: {_message(resp)}",
                                        retry=resp.status_code >= 500)
                continue
            failures, data = 0, resp.json()
            snap = snapshot(data)
            if report:
                report(snap, self.clock() - start)
            if data.get("settled"):
                return snap, log_tails(data)

    def _failed(self, failures: int, why: str, retry: bool = True) -> int:
        if not retry or failures + 1 >= TRIES:
            raise BridgeUnavailable(why)
        self.sleep(_PAUSE)
        return failures + 1


def _message(resp: requests.Response) -> str:
    try:
        found = resp.json()["error"]
        return f"{found['code']} {found['message']}"
    except (ValueError, KeyError, TypeError):
        return resp.reason or "no error body"
