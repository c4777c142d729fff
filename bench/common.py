"""Shared benchmark helpers: the repo on sys.path, medians, RSS sampling and CPU time of process trees."""

from __future__ import annotations

import os
import statistics
import subprocess
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


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy so far, all cores (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """cpu_seconds of `pid` and its children."""
    return cpu_seconds([pid, *_children(pid)])


def _tree_sum(pid: int, path: str, field: str) -> int:
    """The sum of `field` (kB) in /proc/PID/`path` over `pid` and all its descendants, in bytes."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/{path}") as fh:
                for line in fh:
                    if line.startswith(field):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
        stack.extend(_children(current))
    return total


def tree_rss(pid: int) -> int:
    """Resident set size in bytes of `pid` and all its descendants (pages a fork shares count in each)."""
    return _tree_sum(pid, "status", "VmRSS:")


def tree_pss(pid: int) -> int:
    """Proportional set size of `pid` and its descendants: a page shared by n processes counts 1/n in each,
    so the sum is the memory the tree really holds."""
    return _tree_sum(pid, "smaps_rollup", "Pss:")


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
    """Samples the RSS of a process tree; `.peak` is the largest sum seen (`.peak_pss` the same for PSS)."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(interval)
        self.pid, self.peak, self.peak_pss = pid, 0, 0

    def sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self.pid))
        self.peak_pss = max(self.peak_pss, tree_pss(self.pid))


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def commit_of(path: Path) -> str:
    """The short commit a checkout is at (its path when git cannot tell)."""
    run = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return run.stdout.strip() or str(path)


def other_checkout(path: Path) -> tuple[str, str]:
    """(label, swr-bridge command) of another checkout of this repository with its own .venv (`make venv`),
    for a benchmark's --compare-with."""
    path = path.resolve()
    command = path / ".venv" / "bin" / "swr-bridge"
    if not command.exists():
        raise SystemExit(f"--compare-with {path}: no {command} (run `make venv` there)")
    return f"{commit_of(path)} ({path})", str(command)
