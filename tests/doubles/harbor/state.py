"""The Harbor double's in-memory state: seed helpers for tests, and the rules views share."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00.000Z"  # an unfinished execution's end_time
FINAL_STATUSES = frozenset({"Succeed", "Failed", "Stopped"})
ADMIN = ("admin", "Harbor12345")
LOCAL_REGISTRY = {  # what Harbor embeds for the local side of a policy (registry id 0)
    "id": 0, "name": "Local", "type": "harbor", "url": "http://core:8080", "insecure": True,
    "credential": {"type": "secret"}, "status": "healthy",
}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


class HarborState:
    """Everything the double knows. Records are plain dicts close to the swagger shape (private keys start
    with `_`; policies keep `src_registry_id`/`dest_registry_id`), turned into answers by the views.

    Tests seed it with the `add_*` helpers and read it back directly. To model more of Harbor,
    subclass it (e.g. override `start_execution` to create and progress tasks) and pass the instance
    to `HarborDouble`. Views hold `lock` while they run, so a test thread may hold it to change state.
    """

    def __init__(self, harbor_version: str = "v2.15.2-080b0220", users: dict[str, str] | None = None):
        self.harbor_version = harbor_version
        self.users = dict(users or {ADMIN[0]: ADMIN[1]})
        self.projects: dict[int, dict[str, Any]] = {}
        self.registries: dict[int, dict[str, Any]] = {}
        self.policies: dict[int, dict[str, Any]] = {}
        self.executions: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.task_logs: dict[int, str] = {}
        self.webhook_policies: dict[int, dict[str, Any]] = {}
        self.repositories: dict[int, dict[str, Any]] = {}
        self.unhealthy_urls: set[str] = set()
        self.lock = threading.RLock()
        self._ids: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))
        self.add_project("library", public=True)

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # --- seeding ---------------------------------------------------------------------------------

    def add_project(self, name: str, *, public: bool = False) -> dict[str, Any]:
        pid = self.next_id("project")
        self.projects[pid] = {
            "project_id": pid, "name": name, "owner_id": 1, "owner_name": "admin", "repo_count": 0,
            "metadata": {"public": str(public).lower()}, "creation_time": now(), "update_time": now(),
        }
        return self.projects[pid]

    def add_repository(self, project: str, name: str, tags: list[str] | tuple[str, ...] = ("latest",), *,
                       labels: list[str] | tuple[str, ...] = (), untagged: int = 0) -> dict[str, Any]:
        """A repository `project/name` with one artifact per tag (each carrying `labels`), plus `untagged` ones."""
        owner = next(p for p in self.projects.values() if p["name"] == project)
        rid = self.next_id("repository")
        record = {"id": rid, "project_id": owner["project_id"], "name": f"{project}/{name}", "description": "",
                  "pull_count": 0, "creation_time": now(), "update_time": now(), "_artifacts": []}
        for tag_names in [[t] for t in tags] + [[] for _ in range(untagged)]:
            aid = self.next_id("artifact")
            record["_artifacts"].append({
                "id": aid, "type": "IMAGE", "media_type": "application/vnd.oci.image.config.v1+json",
                "manifest_media_type": "application/vnd.oci.image.manifest.v1+json", "project_id": owner["project_id"],
                "repository_id": rid, "repository_name": record["name"], "digest": f"sha256:{aid:064x}", "size": 1024,
                "push_time": now(), "pull_time": ZERO_TIME,
                "tags": [{"id": self.next_id("tag"), "repository_id": rid, "artifact_id": aid, "name": t,
                          "push_time": now(), "pull_time": ZERO_TIME, "immutable": False} for t in tag_names],
                "labels": [{"id": self.next_id("label"), "name": label, "scope": "g", "project_id": 0,
                            "creation_time": now(), "update_time": now()} for label in labels]})
        record["artifact_count"] = len(record["_artifacts"])
        owner["repo_count"] += 1
        self.repositories[rid] = record
        return record

    def add_registry(self, name: str, url: str = "https://relay.example.com", *, type: str = "docker-registry",
                     access_key: str = "", access_secret: str = "", **fields: Any) -> dict[str, Any]:
        rid = self.next_id("registry")
        credential = {"type": "basic", "access_key": access_key, "access_secret": access_secret} if access_key else None
        self.registries[rid] = {"id": rid, "name": name, "url": url, "type": type, "credential": credential,
                                "insecure": False, "description": "", "status": "healthy",
                                "creation_time": now(), "update_time": now(), **fields}
        return self.registries[rid]

    def add_policy(self, name: str, *, dest_registry_id: int, **fields: Any) -> dict[str, Any]:
        record = {"name": name, "description": "", "src_registry_id": 0, "dest_registry_id": dest_registry_id,
                  "dest_namespace": "", "dest_namespace_replace_count": -1, "trigger": {"type": "manual"},
                  "filters": [], "deletion": False, "override": True, "enabled": True, "speed": 0,
                  "copy_by_chunk": False, "single_active_replication": False, **fields}
        return self.store_policy(record)

    def store_policy(self, record: dict[str, Any], policy_id: int | None = None) -> dict[str, Any]:
        """Insert or fully replace a policy record (PUT semantics); keeps id, creator and creation time."""
        pid = policy_id or self.next_id("policy")
        old = self.policies.get(pid, {"creator": "admin", "creation_time": now()})
        self.policies[pid] = {**record, "id": pid, "creator": old["creator"], "creation_time": old["creation_time"],
                              "update_time": now()}
        return self.policies[pid]

    def add_execution(self, policy_id: int, *, status: str = "InProgress", trigger: str = "manual",
                      **fields: Any) -> dict[str, Any]:
        eid = self.next_id("execution")
        self.executions[eid] = {"id": eid, "policy_id": policy_id, "status": status, "trigger": trigger,
                                "start_time": now(), "end_time": ZERO_TIME if status not in FINAL_STATUSES else now(),
                                "status_text": "", **fields}
        return self.executions[eid]

    def add_task(self, execution_id: int, *, status: str = "Succeed", log: str = "", **fields: Any) -> dict[str, Any]:
        tid = self.next_id("task")
        self.tasks[tid] = {"id": tid, "execution_id": execution_id, "status": status, "job_id": f"job{tid:020d}",
                           "operation": "copy", "resource_type": "artifact",
                           "src_resource": "library/busybox [1 item(s) in total]",
                           "dst_resource": "mirror/busybox [1 item(s) in total]",
                           "start_time": now(), "end_time": now() if status in FINAL_STATUSES else ZERO_TIME,
                           **fields}
        self.task_logs[tid] = log
        return self.tasks[tid]

    def add_webhook_policy(self, project_id: int, name: str, *, address: str = "http://receiver.example.com/hook",
                           enabled: bool = True, **fields: Any) -> dict[str, Any]:
        wid = self.next_id("webhook")
        self.webhook_policies[wid] = {
            "id": wid, "name": name, "description": "", "project_id": project_id, "enabled": enabled,
            "event_types": ["REPLICATION"], "creator": "admin", "creation_time": now(), "update_time": now(),
            "targets": [{"type": "http", "address": address, "auth_header": "", "skip_cert_verify": False,
                         "payload_format": "Default"}], **fields}
        return self.webhook_policies[wid]

    # --- behaviour views share -------------------------------------------------------------------

    def refresh(self) -> None:
        """Called (under `lock`) before every request; subclasses advance time-driven state here."""

    def start_execution(self, policy: dict[str, Any], trigger: str = "manual") -> dict[str, Any]:
        """POST /replication/executions. Here it only creates the execution row, as Harbor does before its
        flow goroutine runs; override to add tasks or make it progress."""
        return self.add_execution(policy["id"], trigger=trigger)

    def stop_execution(self, execution: dict[str, Any]) -> None:
        """PUT /replication/executions/{id}: stop every unfinished task, then the execution."""
        for task in self.tasks_of(execution["id"]):
            if task["status"] not in FINAL_STATUSES:
                task.update(status="Stopped", end_time=now())
        if execution["status"] not in FINAL_STATUSES:
            execution.update(status="Stopped", end_time=now())

    def tasks_of(self, execution_id: int) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if t["execution_id"] == execution_id]

    def counters(self, execution_id: int) -> dict[str, int]:
        """The execution's task counters, derived from its tasks like Harbor's refresh."""
        statuses = [t["status"] for t in self.tasks_of(execution_id)]
        return {"total": len(statuses), "failed": statuses.count("Failed"), "succeed": statuses.count("Succeed"),
                "stopped": statuses.count("Stopped"),
                "in_progress": sum(s not in FINAL_STATUSES for s in statuses)}

    def registry_in_use(self, registry_id: int) -> bool:
        return any(registry_id in (p["src_registry_id"], p["dest_registry_id"]) for p in self.policies.values())

    def project(self, name_or_id: str, *, by_name: bool) -> dict[str, Any] | None:
        """Harbor's lookup: a name when told so or when not all digits, else an id."""
        if by_name or not name_or_id.isdigit():
            return next((p for p in self.projects.values() if p["name"] == name_or_id), None)
        return self.projects.get(int(name_or_id))
