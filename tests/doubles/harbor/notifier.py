"""REPLICATION webhooks as Harbor's notifier sends them: payload quirks, both formats, delivery retries."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

import requests

RAW_TRIGGERS = {"manual": "MANUAL", "scheduled": "SCHEDULE", "event_based": "EVENT"}


def _namespace(resource: str) -> str:
    return resource.split("/", 1)[0]


def replication_data(ctx: dict, task: dict, job_status: str, references: list[str]) -> dict:
    """EventData.replication for one task status change, push mode (namespaces swapped, as Harbor does)."""
    policy, registry, execution = ctx["policy"], ctx["registry"], ctx["execution"]
    data = {
        "harbor_hostname": urlsplit(ctx["ext_endpoint"]).hostname,
        "job_status": job_status,
        "description": policy.get("description") or None,
        "artifact_type": task["resource_type"],
        "authentication_type": (registry.get("credential") or {}).get("type"),
        "override_mode": policy.get("override") or None,
        "trigger_type": RAW_TRIGGERS.get(execution["trigger"], execution["trigger"].upper()),
        "policy_creator": policy.get("creator"),
        "execution_timestamp": ctx["execution_started"],
        "src_resource": {"registry_type": "harbor", "endpoint": ctx["ext_endpoint"],
                         "namespace": _namespace(task["dst_resource"])},
        "dest_resource": {"registry_name": registry["name"], "registry_type": registry["type"],
                          "endpoint": registry["url"], "namespace": _namespace(task["src_resource"])},
        "execution_id": execution["id"], "task_id": task["id"],
    }
    artifact = {"type": task["resource_type"], "status": job_status,
                "name_tag": task["src_resource"].split("/", 1)[1], "references": references}
    if job_status == "Success":
        data["successful_artifact"] = [artifact]
    elif job_status == "Error":
        data["failed_artifact"] = [artifact]
    return {k: v for k, v in data.items() if v is not None}  # Go's omitempty


def default_body(ctx: dict, replication: dict) -> tuple[bytes, str]:
    payload = {"type": "REPLICATION", "occur_at": int(time.time()), "operator": ctx["operator"],
               "event_data": {"replication": replication}}
    return json.dumps(payload).encode(), "application/json"


def cloudevents_body(ctx: dict, replication: dict, project_id: int, policy_id: int) -> tuple[bytes, str]:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()),
             "source": f"/projects/{project_id}/webhook/policies/{policy_id}",
             "type": "harbor.replication.status.changed", "datacontenttype": "application/json",
             "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "operator": ctx["operator"], "requestid": "", "data": {"replication": replication}}
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
    """Sends one event to every enabled REPLICATION policy of the task's source project."""
    replication = replication_data(ctx, task, job_status, references)
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
                body, ctype = cloudevents_body(ctx, replication, project["project_id"], policy["id"])
            else:
                body, ctype = default_body(ctx, replication)
            delivered = deliver(target, body, ctype, log=ctx.setdefault("deliveries", []))
            ctx.setdefault("notified", []).append((time.time(), task["id"], job_status, delivered))
