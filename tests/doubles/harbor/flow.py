"""A HarborState whose executions run: Harbor's flow (filters, flattening, one task per repository) on a clock."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from adapter.swr.glob import glob_match
from adapter.swr.mapping import replace_namespace
from tests.doubles.harbor.state import FINAL_STATUSES, HarborState, now


class ReplicatingHarborState(HarborState):
    """Answers `POST /replication/executions` the way Harbor's flow goroutine does:
    it selects the seeded repositories (`add_repository`) that the policy's name, tag and label filters
    match, names each destination with Harbor's namespace replacement, and creates one task per
    repository. Time then drives every record, read lazily on each request (`refresh`):

    - tasks appear `setup` seconds after the start, each starts `stagger` after the previous one and
      runs `duration` seconds, ending with the outcome queued for its repository (`outcome()`);
    - a `flaky` repository's task runs `duration`, reads Failed for another `duration` (jobservice waits to
      retry it) while the execution reads Failed too (harbor#14986), then runs again and succeeds;
    - the execution's status only turns final `lag` seconds after its last task (Harbor refreshes it
      every ~30 s, EXECUTION_STATUS_REFRESH_INTERVAL_SECONDS); counters are always current.

    `task_outcome(task)` is the override point for a jobservice that really pushes.
    Filters use adapter.swr's doublestar port and namespace replacement, themselves checked against
    Harbor's test cases.
    """

    def __init__(self, *args: Any, lag: float = 0.3, setup: float = 0.05, stagger: float = 0.05,
                 duration: float = 0.1, clock: Callable[[], float] = time.monotonic, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lag, self.setup, self.stagger, self.duration, self.clock = lag, setup, stagger, duration, clock
        self.outcomes: dict[str, deque[tuple[str, str]]] = defaultdict(deque)
        self.flaky: set[str] = set()
        self._runs: dict[int, dict[str, Any]] = {}

    # --- seeding ---------------------------------------------------------------------------------

    def outcome(self, repository: str, status: str, log: str = "", *, times: int = 1) -> None:
        """Queue how the next `times` tasks of `repository` ("project/name") end: Succeed, Failed or Stopped."""
        self.outcomes[repository].extend([(status, log)] * times)

    def task_outcome(self, task: dict[str, Any]) -> tuple[str, str]:
        """(final status, job log) of one task; a queued outcome, else success."""
        queue = self.outcomes.get(task["_repository"])
        if queue:
            return queue.popleft()
        return "Succeed", f"copied {task['_repository']} to {task['_destination']}\nthe whole transfer succeeded"

    # --- Harbor's flow ---------------------------------------------------------------------------

    def start_execution(self, policy: dict[str, Any], trigger: str = "manual") -> dict[str, Any]:
        execution = self.add_execution(policy["id"], trigger=trigger)
        plan, problem = self._plan(policy)
        self._runs[execution["id"]] = {"start": self.clock(), "plan": plan, "problem": problem, "tasks": []}
        return execution

    def _plan(self, policy: dict[str, Any]) -> tuple[list[tuple[str, str, int]], str]:
        """(source, destination, item count) per matching repository, or the flow's error text."""
        filters = {f["type"]: f for f in policy["filters"]}
        plan = []
        for repo in sorted(self.repositories.values(), key=lambda r: r["name"]):
            if not glob_match((filters.get("name") or {}).get("value", ""), repo["name"]):
                continue
            items = [a for a in repo["_artifacts"] if _artifact_matches(a, filters)]
            if not items:
                continue
            try:
                dest = replace_namespace(repo["name"], policy["dest_namespace"], policy["dest_namespace_replace_count"])
            except ValueError as exc:
                return [], str(exc)
            plan.append((repo["name"], dest, len(items)))
        return plan, ""

    def refresh(self) -> None:
        at = self.clock()
        for execution_id, run in self._runs.items():
            execution = self.executions.get(execution_id)
            # A transient Failed is not the end; a stop (PUT) is.
            if execution is None or run.get("final") or execution["status"] == "Stopped":
                continue
            elapsed = at - run["start"]
            if elapsed >= self.setup and not run["tasks"] and not run["problem"]:
                run["tasks"] = [self._create_task(execution_id, i, step) for i, step in enumerate(run["plan"])]
            for task in run["tasks"]:
                self._advance(task, elapsed)
            self._refresh_execution(execution, run, elapsed)

    def _create_task(self, execution_id: int, index: int, step: tuple[str, str, int]) -> dict[str, Any]:
        source, dest, count = step
        task = self.add_task(execution_id, status="Pending", src_resource=f"{source} [{count} item(s) in total]",
                             dst_resource=f"{dest} [{count} item(s) in total]")
        task.update(_repository=source, _destination=dest, _begin=self.setup + index * self.stagger)
        task["_end"] = task["_begin"] + self.duration * (3 if source in self.flaky else 1)
        task["_outcome"] = self.task_outcome(task)
        return task

    def _advance(self, task: dict[str, Any], elapsed: float) -> None:
        if task["status"] in FINAL_STATUSES and "_retrying" not in task:
            return
        begin, end = task["_begin"], task["_end"]
        if task["_repository"] in self.flaky and begin + self.duration <= elapsed < begin + 2 * self.duration:
            task.update(status="Failed", end_time=now(), _retrying=True)  # an attempt failed; jobservice retries
        elif elapsed >= end:
            status, log = task.pop("_outcome")
            task.pop("_retrying", None)
            task.update(status=status, end_time=now())
            self.task_logs[task["id"]] = log
        elif elapsed >= begin:
            task.pop("_retrying", None)
            task.update(status="InProgress")

    def _refresh_execution(self, execution: dict[str, Any], run: dict[str, Any], elapsed: float) -> None:
        tasks = run["tasks"]
        if run["problem"] or (elapsed >= self.setup and not run["plan"]):
            if elapsed >= self.setup + self.lag:
                text = run["problem"] or "no resources need to be replicated"
                execution.update(status="Failed" if run["problem"] else "Succeed", status_text=text, end_time=now())
                run["final"] = True
            return
        if any(t.get("_retrying") for t in tasks):
            execution["status"] = "Failed"  # the transient verdict of harbor#14986
            return
        last_end = max((t["_end"] for t in tasks), default=None)
        if last_end is None or elapsed < last_end + self.lag:
            execution["status"] = "InProgress"
            return
        statuses = {t["status"] for t in tasks}
        final = "Failed" if "Failed" in statuses else "Stopped" if "Stopped" in statuses else "Succeed"
        execution.update(status=final, end_time=now())
        run["final"] = True


def _artifact_matches(artifact: dict[str, Any], filters: dict[str, dict[str, Any]]) -> bool:
    """Harbor's tag and label filters on one artifact (an untagged one is matched against "")."""
    tag, label = filters.get("tag"), filters.get("label")
    if tag:
        names = [t["name"] for t in artifact["tags"]] or [""]
        hit = any(glob_match(tag["value"], n) for n in names)
        if hit == (tag.get("decoration") == "excludes"):
            return False
    if label:
        carried = {item["name"] for item in artifact["labels"]}
        has_all = set(label["value"]) <= carried
        if has_all == (label.get("decoration") == "excludes"):
            return False
    return True
