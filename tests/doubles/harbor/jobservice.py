"""A jobservice for the Harbor double: push-based executions that really push through the target.

The local registry stands in for Harbor's own (a real docker-registry). On POST /replication/executions
it lists the source repositories and tags the policy's filters match, computes each destination with
Harbor's flattening, creates one task per repository and replays Harbor's push sequence through the
registered endpoint (tests.harbor_push), moving task and execution statuses as Harbor does (the
execution's status lags its tasks) and sending REPLICATION webhooks on every task status change.
A failed attempt is retried up to MAX_ATTEMPTS times after `retry_backoff` seconds, as jobservice does
(Running and Error webhooks for each attempt; the execution reads Failed meanwhile, harbor#14986).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from adapter.swr.glob import glob_match
from adapter.swr.mapping import replace_namespace
from tests.doubles.harbor import notifier
from tests.doubles.harbor.state import HarborState, now
from tests.harbor_push import HarborPusher, RegistryClient
from tests.harbor_push.sources import RegistrySource
from tests.harbor_push.wire import Transport

MAX_ATTEMPTS = 3  # MaxFails of Harbor's replication job


def _epoch(stamp: str) -> int:
    """Harbor's execution_timestamp: the execution's start_time in Unix seconds."""
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def _filter(policy: dict, kind: str) -> dict | None:
    return next((f for f in policy.get("filters") or [] if f.get("type") == kind), None)


def _tag_selected(tag: str, tag_filter: dict | None) -> bool:
    if not tag_filter or not tag_filter.get("value"):
        return True
    matched = glob_match(tag_filter["value"], tag)
    return matched if tag_filter.get("decoration", "matches") == "matches" else not matched


def _log_line(level: str, where: str, text: str) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"{stamp} [{level}] [{where}]: {text}"


def job_log(repo: str, dest: str, result) -> str:
    """The task's job log, in the shape of Harbor's jobservice logger."""
    transfer, job = "/controller/replication/transfer/image/transfer.go", "/jobservice/job/impl/replication/replication.go"
    lines = []
    for outcome in result.outcomes:
        lines.append(_log_line("INFO", transfer, f"copying {repo}:[{outcome.reference}](source registry) to "
                                                 f"{dest}:[{outcome.dest_reference}](destination registry)..."))
        if outcome.error:
            lines.append(_log_line("ERROR", transfer, outcome.error))
        else:
            lines.append(_log_line("INFO", transfer, f"copy {repo}:[{outcome.reference}] completed: {outcome.status}"))
    if not result.ok:
        lines.append(_log_line("ERROR", job, "got error during the whole transfer period, mark the job failure"))
    return "\n".join(lines)


class ThrottledSource(RegistrySource):
    """Harbor's `speed`: each blob read stream is limited to speed Kibit/s (x128 bytes/s)."""

    def __init__(self, client, speed_kibit: int):
        super().__init__(client)
        self.rate = speed_kibit * 128

    def _limit(self, size_and_chunks):
        size, chunks = size_and_chunks
        if self.rate <= 0:
            return size, chunks

        def paced():
            start, sent = time.monotonic(), 0
            for chunk in chunks:
                sent += len(chunk)
                delay = start + sent / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                yield chunk
        return size, paced()

    def pull_blob(self, repository, digest):
        return self._limit(super().pull_blob(repository, digest))

    def pull_blob_chunk(self, repository, digest, start, end):
        return self._limit(super().pull_blob_chunk(repository, digest, start, end))


class JobserviceState(HarborState):
    """HarborState whose executions run for real against `local_registry_url`."""

    def __init__(self, local_registry_url: str, *, ext_endpoint: str = "http://harbor.test",
                 status_lag: float = 0.5, workers: int = 4, chunk_size: int | None = None, retry_backoff: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.local_registry_url, self.ext_endpoint = local_registry_url, ext_endpoint
        self.status_lag, self.workers, self.chunk_size = status_lag, workers, chunk_size
        # Real jobservice waits 16-118 s; at least 1 s keeps each attempt's events in seconds of their own.
        self.retry_backoff = retry_backoff
        self.failing_attempts: dict[str, int] = {}  # source repository -> how many first attempts fail
        self.attempt_delay = 0.0  # seconds each attempt takes before it copies (a long transfer)
        self.runs: dict[int, dict] = {}  # execution id -> context, for tests to inspect
        self.threads: list[threading.Thread] = []

    def start_execution(self, policy: dict, trigger: str = "manual") -> dict:
        execution = self.add_execution(policy["id"], trigger=trigger, status="InProgress")
        ctx = {"policy": dict(policy), "execution": execution, "registry": dict(self.registries[policy["dest_registry_id"]]),
               "ext_endpoint": self.ext_endpoint, "operator": "admin",
               "execution_started": _epoch(execution["start_time"])}
        self.runs[execution["id"]] = ctx
        thread = threading.Thread(target=self._run, args=(ctx,), daemon=True, name=f"execution-{execution['id']}")
        self.threads.append(thread)
        thread.start()
        return execution

    def wait_idle(self, timeout: float = 120.0) -> None:
        for thread in list(self.threads):
            thread.join(timeout)

    # --- the flow -----------------------------------------------------------------------------------
    def _run(self, ctx: dict) -> None:
        try:
            plan = self._plan(ctx["policy"])
            if ctx["registry"]["type"] == "huawei-SWR":
                with self._pusher(ctx) as pusher:
                    pusher.prepare_for_push([dest for _, dest, _ in plan])
        except Exception as exc:  # noqa: BLE001 - Harbor fails the execution, with no task and no webhook
            self._finish(ctx, "Failed", f"failed to do the prepare work for pushing/uploading resources: {exc}")
            return
        with ThreadPoolExecutor(self.workers) as pool:
            outcomes = list(pool.map(lambda item: self._task(ctx, *item), plan))
        time.sleep(self.status_lag)  # Harbor refreshes the execution status some time after its tasks
        self._finish(ctx, "Succeed" if all(outcomes) else "Failed", "")

    def _plan(self, policy: dict) -> list[tuple[str, str, list[str]]]:
        """(source repository, destination repository, tags) for every repository the filters keep."""
        client = RegistryClient(self.local_registry_url, "", "", Transport())
        name_filter, tag_filter = _filter(policy, "name"), _filter(policy, "tag")
        plan = []
        for repo in client.catalog():
            if name_filter and name_filter.get("value") and not glob_match(name_filter["value"], repo):
                continue
            tags = [t for t in client.list_tags(repo) if _tag_selected(t, tag_filter)]
            if tags:
                dest = replace_namespace(repo, policy.get("dest_namespace") or "",
                                         policy.get("dest_namespace_replace_count", -1))
                plan.append((repo, dest, sorted(tags)))
        return plan

    def _pusher(self, ctx: dict) -> HarborPusher:
        registry, policy = ctx["registry"], ctx["policy"]
        credential = registry.get("credential") or {}
        kwargs = {"chunk_size": self.chunk_size} if self.chunk_size else {}
        return HarborPusher(registry["url"], credential.get("access_key", ""), credential.get("access_secret", ""),
                            mode=registry["type"], copy_by_chunk=bool(policy.get("copy_by_chunk")),
                            verify=not registry.get("insecure"), backoff=0.1, **kwargs)

    def _task(self, ctx: dict, repo: str, dest: str, tags: list[str]) -> bool:
        count = f" [{len(tags)} item(s) in total]"
        with self.lock:
            task = self.add_task(ctx["execution"]["id"], status="Running", end_time="0001-01-01T00:00:00.000Z",
                                 src_resource=repo + count, dst_resource=dest + count, resource_type="artifact")
        logs = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with self.lock:
                task.update(status="InProgress" if attempt > 1 else "Running")
                ctx["execution"].update(status="InProgress")
            notifier.notify(self, ctx, task, "Running", tags)
            ok, log = self._attempt(ctx, repo, dest, tags)
            logs.append(log)
            with self.lock:
                task.update(status="Succeed" if ok else "Failed", end_time=now())
                self.task_logs[task["id"]] = "\n".join(logs) + "\n"
                if not ok and attempt < MAX_ATTEMPTS:
                    ctx["execution"].update(status="Failed")  # harbor#14986: Failed while the retry waits
            notifier.notify(self, ctx, task, "Success" if ok else "Error", tags)
            if ok or attempt == MAX_ATTEMPTS:
                return ok
            time.sleep(self.retry_backoff)
        return False

    def _attempt(self, ctx: dict, repo: str, dest: str, tags: list[str]) -> tuple[bool, str]:
        """One run of the task's job: (succeeded, its log)."""
        time.sleep(self.attempt_delay)
        with self.lock:
            injected = self.failing_attempts.get(repo, 0)
            self.failing_attempts[repo] = max(0, injected - 1)
        if injected:
            where = "/controller/replication/transfer/image/transfer.go"
            return False, "\n".join([_log_line("ERROR", where, f"failed to push {dest}: connection reset by peer"),
                                      _log_line("ERROR", "/jobservice/job/impl/replication/replication.go",
                                                "got error during the whole transfer period, mark the job failure")])
        source = ThrottledSource(RegistryClient(self.local_registry_url, "", "", Transport()),
                                 int(ctx["policy"].get("speed") or 0))
        with self._pusher(ctx) as pusher:
            result = pusher.copy(source, dest, tags, override=bool(ctx["policy"].get("override")),
                                 source_repo=repo, prepare=False)
        return result.ok, job_log(repo, dest, result)

    def _finish(self, ctx: dict, status: str, text: str) -> None:
        with self.lock:
            ctx["execution"].update(status=status, status_text=text, end_time=now())
