"""REPLICATION webhooks as Harbor's notifier sends them, per version (harbor.md §5.7): payload quirks, both
formats (CloudEvents from 2.8), delivery retries."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

import requests

from harbor_client.versions import HarborVersion, parse_version

NEWEST = HarborVersion(2, 16)
RAW_TRIGGERS = {"manual": "MANUAL", "scheduled": "SCHEDULE", "event_based": "EVENT"}


def _namespace(resource: str) -> str:
    return resource.split("/", 1)[0]


def _name_tag(resource: str, version: HarborVersion) -> str:
    # getMetadataFromResource: strings.Split(res, "/")[1] before 2.13 (a nested repository loses its tail),
    # strings.SplitN(res, "/", 2)[1] from 2.13 on.
    return resource.split("/", 1)[1] if version >= (2, 13) else resource.split("/")[1]


def sends(version: HarborVersion, job_status: str) -> bool:
    """Whether Harbor `version` sends a webhook for this task status: 2.0/2.1 only for final ones."""
    return version >= (2, 2) or job_status != "Running"


def operator(ctx: dict, version: HarborVersion) -> str:
    """The payload's operator: the execution's trigger before 2.9 (as the trigger is spelled), then its user."""
    if version < (2, 9):
        return _trigger(ctx["execution"]["trigger"], version)
    return ctx["operator"]


def _trigger(trigger: str, version: HarborVersion) -> str:
    # 2.0/2.1 keep the replication model's lowercase names; the task framework (2.2) has MANUAL, SCHEDULE, EVENT.
    return trigger if version < (2, 2) else RAW_TRIGGERS.get(trigger, trigger.upper())


def replication_data(ctx: dict, task: dict, job_status: str, references: list[str],
                     version: HarborVersion = NEWEST) -> dict:
    """EventData.replication for one task status change, push mode (namespaces swapped, as Harbor does),
    with what Harbor `version` sends (harbor.md §5.7)."""
    policy, registry, execution = ctx["policy"], ctx["registry"], ctx["execution"]
    data = {
        "harbor_hostname": urlsplit(ctx["ext_endpoint"]).hostname,
        "job_status": job_status,
        "description": policy.get("description") or None,
        "artifact_type": task["resource_type"],
        "authentication_type": (registry.get("credential") or {}).get("type"),
        "override_mode": policy.get("override") or None,
        "trigger_type": _trigger(execution["trigger"], version),
        "policy_creator": policy.get("creator"),
        "execution_timestamp": ctx["execution_started"],
        "src_resource": {"registry_type": "harbor", "endpoint": ctx["ext_endpoint"],
                         "namespace": _namespace(task["dst_resource"])},
        "dest_resource": {"registry_name": registry["name"], "registry_type": registry["type"],
                          "endpoint": registry["url"], "namespace": _namespace(task["src_resource"])},
    }
    if version >= (2, 13):
        data.update(execution_id=execution["id"], task_id=task["id"])
    status = {"Success": "Succeed", "Error": "Failed"}.get(job_status, job_status) if version < (2, 2) else job_status
    artifact = {"type": task["resource_type"], "status": status, "name_tag": _name_tag(task["src_resource"], version)}
    if version >= (2, 10):
        artifact["references"] = references
    if job_status == "Success":
        data["successful_artifact"] = [artifact]
    elif job_status == "Error":
        data["failed_artifact"] = [artifact]
    return {k: v for k, v in data.items() if v is not None}  # Go's omitempty


def default_body(ctx: dict, replication: dict, version: HarborVersion = NEWEST) -> tuple[bytes, str]:
    payload = {"type": "REPLICATION", "occur_at": int(time.time()), "operator": operator(ctx, version),
               "event_data": {"replication": replication}}
    return json.dumps(payload).encode(), "application/json"


def cloudevents_body(ctx: dict, replication: dict, project_id: int, policy_id: int,
                     version: HarborVersion = NEWEST) -> tuple[bytes, str]:
    assert version >= (2, 8), "CloudEvents arrived in Harbor 2.8"
    event = {"specversion": "1.0", "id": str(uuid.uuid4()),
             "source": f"/projects/{project_id}/webhook/policies/{policy_id}",
             "type": "harbor.replication.status.changed", "datacontenttype": "application/json",
             "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "operator": operator(ctx, version), "requestid": "", "data": {"replication": replication}}
    return json.dumps(event).encode(), "application/cloudevents+json"


def deliver(target: dict, body: bytes, content_type: str, *, attempts: int = 3, timeout: float = 3.0,
            log: list | None = None) -> bool:
    """POSTs like Harbor's webhook job: Authorization verbatim, any 2xx is success, up to 3 tries."""
    headers = {"Content-Type": content_type}
    if target.get("auth_header"):
        headers["Authorization"] = target["auth_header"]
    for attempt in range(attempts):
        try:
            resp = requests.post(target["address"], data=body, headers=headers, timeout=timeout,
                                 verify=not target.get("skip_cert_verify"))
            if log is not None:
                log.append((target["address"], resp.status_code))
            if 200 <= resp.status_code < 300:
                return True
        except requests.RequestException as exc:
            if log is not None:
                log.append((target["address"], type(exc).__name__))
        time.sleep(0.2 * (attempt + 1))
    return False


def notify(state, ctx: dict, task: dict, job_status: str, references: list[str]) -> None:
    """Sends one event to every enabled REPLICATION policy of the task's source project, as state's version would."""
    version = parse_version(state.harbor_version) or NEWEST
    if not sends(version, job_status):
        return
    replication = replication_data(ctx, task, job_status, references, version)
    project_name = _namespace(task["src_resource"])
    with state.lock:
        project = next((p for p in state.projects.values() if p["name"] == project_name), None)
        policies = [dict(w) for w in state.webhook_policies.values()
                    if project and w["project_id"] == project["project_id"] and w.get("enabled")
                    and "REPLICATION" in w.get("event_types", [])]
    for policy in policies:
        for target in policy["targets"]:
            if target.get("type") != "http":
                continue
            if target.get("payload_format") == "CloudEvents":
                body, ctype = cloudevents_body(ctx, replication, project["project_id"], policy["id"], version)
            else:
                body, ctype = default_body(ctx, replication, version)
            ctx.setdefault("bodies", []).append(body)
            delivered = deliver(target, body, ctype, log=ctx.setdefault("deliveries", []))
            ctx.setdefault("notified", []).append((time.time(), task["id"], job_status, delivered))
