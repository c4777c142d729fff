"""Harbor REPLICATION payloads as harbor.md §5.4 and §5.5 show them, for tests and the benchmark."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone


def replication(job_status: str = "Success", execution_id: int = 12, task_id: int = 34, *,
                repo: str = "busybox", refs=("v1", "latest"), project: str = "library", remote_ns: str = "mirror",
                description: str = "library -> relay", trigger: str = "MANUAL", mode: str = "push") -> dict:
    """event_data.replication with Harbor's quirks: namespaces swapped in push mode, `name_tag` with a count."""
    local = {"registry_type": "harbor", "endpoint": "https://harbor.example.com"}
    remote = {"registry_name": "relay", "registry_type": "docker-registry", "endpoint": "https://relay.example.com"}
    # Harbor parses the remote side's namespace from the source resource and the local side's from the
    # destination resource, so in push mode src (local) carries the remote namespace and vice versa.
    src, dest = ({**local, "namespace": remote_ns}, {**remote, "namespace": project}) if mode == "push" else \
        ({**remote, "namespace": remote_ns}, {**local, "namespace": project})
    data = {
        "harbor_hostname": "harbor.example.com", "job_status": job_status, "description": description,
        "artifact_type": "artifact", "authentication_type": "basic", "override_mode": True,
        "trigger_type": trigger, "policy_creator": "admin", "execution_timestamp": 1714557590,
        "src_resource": src, "dest_resource": dest, "execution_id": execution_id, "task_id": task_id,
    }
    artifact = {"type": "artifact", "status": job_status, "name_tag": f"{repo} [{len(refs)} item(s) in total]",
                "references": list(refs)}
    if job_status == "Success":
        data["successful_artifact"] = [artifact]
    elif job_status == "Error":
        data["failed_artifact"] = [artifact]
    return data


def default(job_status: str = "Success", *, occur_at: int = 1714557600, operator: str = "robot$replctl",
            **kwargs) -> dict:
    return {"type": "REPLICATION", "occur_at": occur_at, "operator": operator,
            "event_data": {"replication": replication(job_status, **kwargs)}}


def cloudevent(job_status: str = "Error", *, occur_at: int = 1714557600, event_id: str | None = None,
               **kwargs) -> dict:
    return {
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "/projects/1/webhook/policies/3",
        "type": "harbor.replication.status.changed", "datacontenttype": "application/json",
        "time": datetime.fromtimestamp(occur_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "operator": "robot$replctl", "requestid": "683103a8-80af-1cfd-faf6-9f15e54b59fb",
        "data": {"replication": replication(job_status, **kwargs)},
    }


def push_artifact(occur_at: int = 1714557700) -> dict:
    return {"type": "PUSH_ARTIFACT", "occur_at": occur_at, "operator": "admin", "event_data": {
        "resources": [{"digest": "sha256:" + "a" * 64, "tag": "v1",
                       "resource_url": "harbor.example.com/library/busybox:v1"}],
        "repository": {"name": "busybox", "namespace": "library", "repo_full_name": "library/busybox",
                       "repo_type": "private"}}}


def execution_stream(execution_id: int, tasks: int, *, failed: set[int] = frozenset(), start: int = 1714557600,
                     description: str = "prod-sync", project: str = "library") -> list[dict]:
    """Every event one execution produces: Running then Success for each task, or for a failed one the
    Running and Error of each of jobservice's three attempts, the last two at the times a success would have."""
    found = []
    for n in range(1, tasks + 1):
        task_id = execution_id * 1000 + n
        common = {"execution_id": execution_id, "task_id": task_id, "repo": f"app{n}", "description": description,
                  "project": project}
        for attempt in (2, 1) if n in failed else ():
            found.append(default("Running", occur_at=start + n - 2 * attempt, **common))
            found.append(default("Error", occur_at=start + n + 1 - 2 * attempt, **common))
        found.append(default("Running", occur_at=start + n, **common))
        found.append(default("Error" if n in failed else "Success", occur_at=start + n + 1, **common))
    return found


def body(doc: dict) -> bytes:
    return json.dumps(doc).encode()
