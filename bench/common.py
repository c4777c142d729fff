"""Shared benchmark helpers: the repo on sys.path, medians, RSS/PSS sampling and CPU time of process trees."""

from __future__ import annotations

import os
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median(values) -> float:
    return statistics.median(values)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def cpu_seconds(pids) -> float:
    """User + system CPU seconds these processes have used so far (from /proc; gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """cpu_seconds of `pid` and its children."""
    return cpu_seconds([pid, *_children(pid)])


def tree_rss(pid: int) -> int:
    """Resident set size in bytes of `pid` and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
        stack.extend(_children(current))
    return total


def tree_pids(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(_children(current))
    return found


def tree_pss(pid: int) -> int:
    """Proportional set size in bytes of `pid` and its descendants: pages shared after fork count once."""
    total = 0
    for current in tree_pids(pid):
        try:
            with open(f"/proc/{current}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class Periodic:
    """Calls `sample()` every `interval` seconds in a thread while the `with` block runs."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class PeakRss(Periodic):
    """Samples the RSS of a process tree; `.peak` is the largest sum seen."""

    measure = staticmethod(tree_rss)

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(interval)
        self.pid, self.peak = pid, 0

    def sample(self) -> None:
        self.peak = max(self.peak, self.measure(self.pid))


class PeakPss(PeakRss):
    """Samples the PSS of a process tree; `.peak` is the largest sum seen."""

    measure = staticmethod(tree_pss)


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
