"""The one event model that both Harbor payload formats load into, keeping Harbor's quirks as sent."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from harbor_client.models import resource_name

# Harbor sends jobservice's raw statuses, not the API's Succeed/Failed (harbor.md §5.3).
RAW_STATUSES = {"Pending": "running", "Scheduled": "running", "Running": "running",
                "Success": "succeeded", "Error": "failed", "Stopped": "stopped"}
# occur_at has whole seconds, so a task's Running and Success often share one; the terminal one is later.
STATUS_RANK = {"running": 0, "succeeded": 1, "failed": 1, "stopped": 1}
# Raw execution triggers; Harbor 2.0/2.1 send the API's lowercase names themselves (harbor.md §5.7).
TRIGGERS = {"MANUAL": "manual", "SCHEDULE": "scheduled", "EVENT": "event_based"}
# Harbor never caps `references` (one per tag of the repository); the bridge keeps this many and the count.
MAX_REFERENCES = 1000
UNRESOLVED = "unresolved"
# CloudEvents types mapped to the Default format's names, so routes match one vocabulary.
CLOUDEVENT_TYPES = {
    "harbor.replication.status.changed": "REPLICATION",
    "harbor.artifact.pushed": "PUSH_ARTIFACT", "harbor.artifact.pulled": "PULL_ARTIFACT",
    "harbor.artifact.deleted": "DELETE_ARTIFACT", "harbor.quota.exceeded": "QUOTA_EXCEED",
    "harbor.quota.warned": "QUOTA_WARNING", "harbor.scan.failed": "SCANNING_FAILED",
    "harbor.scan.completed": "SCANNING_COMPLETED", "harbor.scan.stopped": "SCANNING_STOPPED",
    "harbor.tag_retention.finished": "TAG_RETENTION",
}


@dataclass(frozen=True)
class Resource:
    registry_type: str = ""
    endpoint: str = ""
    namespace: str = ""
    registry_name: str = ""
    provider: str = ""


@dataclass(frozen=True)
class Artifact:
    type: str
    status: str
    name_tag: str  # as Harbor sends it: "busybox [2 item(s) in total]", not "busybox:v1"
    references: tuple[str, ...] = ()  # the first MAX_REFERENCES of them
    fail_reason: str = ""  # in Harbor's struct, never filled in
    reference_count: int = 0  # how many Harbor sent (from 2.10; none before)

    @property
    def repository(self) -> str:
        return resource_name(self.name_tag)


@dataclass(frozen=True)
class Replication:
    job_status: str  # raw: Running | Success | Error | Stopped
    execution_id: int | None = None  # sent from Harbor 2.13 on
    task_id: int | None = None
    harbor_hostname: str = ""
    description: str = ""
    artifact_type: str = ""
    authentication_type: str = ""
    override_mode: bool = False
    trigger_type: str = ""  # raw: MANUAL | SCHEDULE | EVENT
    policy_creator: str = ""
    execution_timestamp: int = 0
    src_resource: Resource = field(default_factory=Resource)
    dest_resource: Resource = field(default_factory=Resource)
    successful_artifact: tuple[Artifact, ...] = ()
    failed_artifact: tuple[Artifact, ...] = ()

    @property
    def status(self) -> str:
        return RAW_STATUSES[self.job_status]

    @property
    def mode(self) -> str:
        return "pull" if self.dest_resource.registry_type == "harbor" else "push"

    @property
    def project(self) -> str:
        # Push mode swaps the namespaces, so in both modes the local project is dest_resource's.
        return self.dest_resource.namespace

    @property
    def remote_namespace(self) -> str:
        # The same swap puts the remote side's namespace in src_resource in both modes.
        return self.src_resource.namespace

    @property
    def remote(self) -> Resource:
        return self.dest_resource if self.mode == "push" else self.src_resource

    @property
    def artifact(self) -> Artifact | None:
        found = self.successful_artifact or self.failed_artifact
        return found[0] if found else None

    @property
    def trigger(self) -> str:
        return TRIGGERS.get(self.trigger_type, self.trigger_type.lower())

    @property
    def destination(self) -> tuple[str, str, str]:
        """(registry name, endpoint, namespace) the data went to; the swap puts a push's in src_resource."""
        if self.mode == "push":
            return self.dest_resource.registry_name, self.dest_resource.endpoint, self.src_resource.namespace
        return self.dest_resource.registry_name, self.dest_resource.endpoint, self.dest_resource.namespace

    @property
    def group_id(self) -> int:
        """The bridge's key for the execution: Harbor's id, or (before 2.13) a negative one derived from what
        every task of one execution shares (harbor.md §5.7). Any replica derives the same from the event."""
        if self.execution_id is not None:
            return self.execution_id
        shared = [self.harbor_hostname, *self.destination, self.description, self.execution_timestamp]
        return -1 - _hash63(json.dumps(shared))

    @property
    def group_task_id(self) -> int | None:
        """Harbor's task id, or (before 2.13) one derived from the task's repository.

        An id-less event that names no repository says that some task runs (None: no task row, the execution
        stays open) or was stopped (one stand-in task per execution, so a stopped execution reads stopped).
        """
        if self.task_id is not None:
            return self.task_id
        art = self.artifact
        if art is None:
            return None if self.status == "running" else 1 + _hash63(json.dumps(["", self.job_status]))
        # 2.0-2.12 cut name_tag at the second slash, so the references tell nested repositories apart.
        return 1 + _hash63(json.dumps([art.name_tag, art.references]))


def _hash63(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 2


@dataclass(frozen=True)
class Event:
    format: str  # default | cloudevents
    event_type: str  # Default-format name, e.g. REPLICATION
    occur_at: int
    body: bytes
    operator: str = ""
    replication: Replication | None = None
    ce_id: str | None = None
    ce_source: str | None = None

    @property
    def key(self) -> str:
        """The idempotency key: CloudEvents id, else (execution_id, task_id, job_status, occur_at), else the body's
        hash (before 2.13 Harbor sends no ids; its retries resend the same body)."""
        if self.ce_id is not None:
            return f"ce:{self.ce_id}"
        rep = self.replication
        if rep is not None and rep.execution_id is not None and rep.task_id is not None:
            return f"rep:{rep.execution_id}:{rep.task_id}:{rep.job_status}:{self.occur_at}"
        # Other events carry no id at all; identical bodies are the same event.
        return f"sha256:{hashlib.sha256(self.body).hexdigest()}"

    @property
    def status(self) -> str | None:
        return self.replication.status if self.replication else None

    @property
    def user(self) -> str:
        """Who started it: `operator`, except that Harbor before 2.9 puts the trigger there (harbor.md §5.7)."""
        rep = self.replication
        if rep is not None and rep.execution_id is None and self.operator == rep.trigger_type:
            return ""
        return self.operator
