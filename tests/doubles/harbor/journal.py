"""What the double saw: every request, every contract violation, and the faults tests asked for."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class RecordedRequest:
    method: str
    path: str  # as sent, e.g. /api/v2.0/registries/3
    route: str | None  # the swagger path, e.g. /registries/{id}; None when the double has no such route
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    status: int | None = None


@dataclass
class Violation:
    """The client broke the swagger contract (kind "request") or the double did ("response", "crash")."""

    kind: str
    method: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.method} {self.path}: {self.message}"


@dataclass
class Fault:
    """A canned answer for the next `times` calls to (method, route), before any other check."""

    method: str
    route: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class Journal:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def violate(self, violation: Violation) -> None:
        with self._lock:
            self.violations.append(violation)

    def take_fault(self, method: str, route: str | None) -> Fault | None:
        """The first armed fault for this call, used up by one."""
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def matching(self, method: str | None = None, route: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests
                if (method is None or r.method == method) and (route is None or r.route == route)]

    def take_violations(self) -> list[Violation]:
        """Return and forget the violations (for tests that provoke them on purpose)."""
        with self._lock:
            taken, self.violations = self.violations, []
        return taken
