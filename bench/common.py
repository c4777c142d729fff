"""Shared benchmark helpers: the repo on sys.path, medians, RSS sampling of a process tree."""

from __future__ import annotations

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

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(interval)
        self.pid, self.peak = pid, 0

    def sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self.pid))


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
