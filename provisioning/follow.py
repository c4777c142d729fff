"""Following a replication execution to a verdict, with a progress bar on a TTY and plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from harbor_client.client import HarborClient
from harbor_client.models import TERMINAL_STATUSES, ReplicationExecution, ReplicationTask, resource_name


def task_route(task: ReplicationTask) -> str:
    """`source -> destination`; the source alone when the destination is not known (the bridge's tasks)."""
    source = resource_name(task.src_resource)
    return f"{source} -> {resource_name(task.dst_resource)}" if task.dst_resource else source


@dataclass
class Snapshot:
    execution: ReplicationExecution
    tasks: list[ReplicationTask]

    @property
    def final(self) -> bool:
        return self.execution.is_terminal and all(t.status in TERMINAL_STATUSES for t in self.tasks)

    @property
    def failed_tasks(self) -> list[ReplicationTask]:
        return [t for t in self.tasks if t.status == "Failed"]

    @property
    def succeeded(self) -> bool:
        return self.final and self.execution.status == "Succeed" and all(t.status == "Succeed" for t in self.tasks)

    def counts(self) -> dict[str, int]:
        statuses = [t.status for t in self.tasks]
        return {"total": len(statuses), "succeed": statuses.count("Succeed"), "failed": statuses.count("Failed"),
                "stopped": statuses.count("Stopped"),
                "running": sum(s not in TERMINAL_STATUSES for s in statuses)}

    def key(self) -> tuple[Any, ...]:
        return self.execution.status, tuple((t.id, t.status) for t in self.tasks)


class FollowTimeout(Exception):
    def __init__(self, snapshot: Snapshot, timeout: float):
        self.snapshot, self.timeout = snapshot, timeout
        super().__init__(f"execution {snapshot.execution.id} is not final after {timeout:g}s "
                         f"(status {snapshot.execution.status}); it goes on in Harbor")


def snapshot(client: HarborClient, execution_id: int) -> Snapshot:
    return Snapshot(client.executions.get(execution_id), list(client.executions.tasks(execution_id)))


def follow(client: HarborClient, execution_id: int, *, timeout: float | None = None, interval: float = 5.0,
           settle: float = 60.0, report: Callable[[Snapshot, float], None] | None = None,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Snapshot:
    """Poll until the execution is final (a failure only once it held `settle` s); FollowTimeout after `timeout`.

    An execution counts as final only when its status and every task's status are final: Harbor refreshes
    an execution's status up to ~30 s after its tasks (and may show Failed while a task is between
    retries, harbor#14986), so the status alone is not trusted. A failed verdict must also hold,
    unchanged, for `settle` seconds, since jobservice retries a failed task up to 3 times.
    """
    start, held_key, held_since = clock(), None, 0.0
    while True:
        snap = snapshot(client, execution_id)
        elapsed = clock() - start
        if report:
            report(snap, elapsed)
        if snap.final and not snap.failed_tasks:
            return snap
        if snap.final:
            if snap.key() != held_key:
                held_key, held_since = snap.key(), elapsed
            if elapsed - held_since >= settle:
                return snap
        else:
            held_key = None
        if timeout is not None and elapsed >= timeout:
            raise FollowTimeout(snap, timeout)
        sleep(interval if timeout is None else max(0.0, min(interval, timeout - elapsed)))


def log_tail(client: HarborClient, execution_id: int, task: ReplicationTask, lines: int) -> str:
    """The last `lines` lines of a task's job log."""
    return "\n".join(client.executions.task_log(execution_id, task.id).rstrip("\n").splitlines()[-lines:])


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


class LineReporter:
    """A line whenever the picture changes, and one per task reaching a final status."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self._last: tuple[Any, ...] | None = None
        self._announced: set[int] = set()

    def __call__(self, snap: Snapshot, elapsed: float) -> None:
        for task in snap.tasks:
            if task.status in TERMINAL_STATUSES and task.id not in self._announced:
                self._announced.add(task.id)
                self._write(f"task {task.id} {task_route(task)}: {task.status}")
        if snap.key() != self._last:
            self._last = snap.key()
            c = snap.counts()
            self._write(f"execution {snap.execution.id} {snap.execution.status}: {c['succeed']}/{c['total']} done, "
                        f"{c['failed']} failed, {c['running']} running ({elapsed:.0f}s)")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to tidy up."""


class BarReporter:
    """One line redrawn in place: a bar over the tasks, the counts, the status and the elapsed time."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self._drawn = False

    def __call__(self, snap: Snapshot, elapsed: float) -> None:
        c = snap.counts()
        finished = c["total"] - c["running"]
        filled = self.WIDTH * finished // c["total"] if c["total"] else 0
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {c['succeed']} done, {c['failed']} failed, {c['total']} total  "
                          f"{snap.execution.status:<10} {_clock_text(elapsed)}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def reporter(mode: str, stream: TextIO | None = None) -> LineReporter | BarReporter | None:
    """`auto` picks the bar when the stream is a terminal."""
    stream = stream or sys.stderr
    if mode == "auto":
        mode = "bar" if stream.isatty() else "lines"
    return {"bar": BarReporter, "lines": LineReporter}.get(mode, lambda _: None)(stream)
