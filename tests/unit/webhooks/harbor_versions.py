"""REPLICATION webhooks exactly as each Harbor 2.x family sends them (harbor.md §5.7), written from the Go
code of each tag: `src/pkg/notifier/model/event.go` (the structs and their omitempty tags) and
`src/controller/event/handler/webhook/artifact/replication.go` (`constructReplicationPayload`).

Per family, one execution (start 1714557590) of a push policy "library -> relay" with two tasks:
library/app1 succeeds, library/app2 fails. Values that differ between families:

| family | tag read | operator | trigger_type | Running sent | references | ids | name_tag |
|---|---|---|---|---|---|---|---|
| 2.0/2.1 | v2.0.0 | the trigger | `manual` | no (only Success, Error, Stopped) | no key | no | `Split(res, "/")[1]` |
| 2.2-2.7 | v2.2.0 | the trigger | `MANUAL` | yes | no key | no | same |
| 2.8 | v2.8.0 | the trigger | `MANUAL` | yes | no key | no | same; CloudEvents appear |
| 2.9 | v2.9.0 | the user | `MANUAL` | yes | no key | no | same |
| 2.10-2.12 | v2.10.0 | the user | `MANUAL` | yes | every tag, uncapped | no | same |
| 2.13+ | v2.13.0 | the user | `MANUAL` | yes | every tag, uncapped | execution_id, task_id | `SplitN(res, "/", 2)[1]` |

`artifact.status` is the task's status at that moment: the replication DAO's `Succeed`/`Failed` in 2.0/2.1,
jobservice's raw `Success`/`Error` from 2.2 (the task framework).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

STARTED = 1714557590
FAMILIES = ("2.0", "2.2", "2.8", "2.9", "2.10", "2.13")
CLOUDEVENTS_FROM = "2.8"
EXECUTION_ID, TASK_IDS = 12, {"app1": 34, "app2": 35}


def _v(family: str) -> tuple[int, int]:
    major, minor = family.split(".")
    return int(major), int(minor)


def _local(namespace: str) -> dict:
    return {"registry_type": "harbor", "endpoint": "https://harbor.example.com", "namespace": namespace}


def _remote(namespace: str) -> dict:
    return {"registry_name": "relay", "registry_type": "docker-registry", "endpoint": "https://relay.example.com",
            "namespace": namespace}


def replication(family: str, repo: str, job_status: str, *, refs=("v1", "latest"), description="library -> relay",
                remote_ns: str = "mirror", started: int = STARTED) -> dict:
    """event_data.replication of one task status change (push mode: namespaces swapped, §5.3)."""
    version = _v(family)
    data = {
        "harbor_hostname": "harbor.example.com",
        "job_status": job_status,
        "description": description,  # omitempty: left out when the policy has none
        "artifact_type": "artifact",
        "authentication_type": "basic",
        "override_mode": True,
        "trigger_type": "manual" if version < (2, 2) else "MANUAL",
        "policy_creator": "admin",
        "execution_timestamp": started,
        "src_resource": _local(remote_ns),
        "dest_resource": _remote("library"),
    }
    if not description:
        del data["description"]
    artifact = {"type": data["artifact_type"], "name_tag": f"{repo} [{len(refs)} item(s) in total]"}
    artifact["status"] = {"Success": "Succeed", "Error": "Failed"}.get(job_status) if version < (2, 2) else job_status
    if version >= (2, 10):
        artifact["references"] = list(refs)  # strings.Split(task.References, ","): no limit
    if job_status == "Success":
        data["successful_artifact"] = [artifact]
    elif job_status == "Error":
        data["failed_artifact"] = [artifact]
    if version >= (2, 13):
        data["execution_id"], data["task_id"] = EXECUTION_ID, TASK_IDS.get(repo, 36)
    return data


def operator(family: str) -> str:
    return "manual" if _v(family) < (2, 2) else "MANUAL" if _v(family) < (2, 9) else "robot$replctl"


def default(family: str, repo: str, job_status: str, occur_at: int, **kwargs) -> dict:
    return {"type": "REPLICATION", "occur_at": occur_at, "operator": operator(family),
            "event_data": {"replication": replication(family, repo, job_status, **kwargs)}}


def cloudevent(family: str, repo: str, job_status: str, occur_at: int, **kwargs) -> dict:
    assert _v(family) >= _v(CLOUDEVENTS_FROM), f"Harbor {family} has no CloudEvents format"
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/projects/1/webhook/policies/3",
            "type": "harbor.replication.status.changed", "datacontenttype": "application/json",
            "time": datetime.fromtimestamp(occur_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "operator": operator(family), "requestid": "", "data": {"replication": replication(
                family, repo, job_status, **kwargs)}}


def statuses(family: str, outcome: str) -> list[str]:
    """The job statuses one task's webhooks carry: 2.0/2.1 report final statuses only."""
    return [outcome] if _v(family) < (2, 2) else ["Running", outcome]


def execution(family: str, fmt: str = "default", **kwargs) -> list[dict]:
    """Every webhook of the two-task execution, in the order Harbor sends them (app2 fails each of
    jobservice's three attempts)."""
    build = cloudevent if fmt == "cloudevents" else default
    found, at = [], STARTED + 1
    for repo, outcome in (("app1", "Success"), ("app2", "Error")):
        for status in statuses(family, outcome) * (3 if outcome == "Error" else 1):
            found.append(build(family, repo, status, at, **kwargs))
            at += 1
    return found


def formats(family: str) -> list[str]:
    return ["default", "cloudevents"] if _v(family) >= _v(CLOUDEVENTS_FROM) else ["default"]


def content_type(fmt: str) -> str:
    return "application/cloudevents+json" if fmt == "cloudevents" else "application/json"


def body(doc: dict) -> bytes:
    return json.dumps(doc).encode()
