"""Desired state -> plan -> apply: make Harbor's endpoints, rules and webhooks match a bridge file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harbor_client.client import HarborClient
from harbor_client.errors import HarborError, NotFound
from harbor_client.models import Registry, ReplicationPolicy, WebhookPolicy
from harbor_client.repositories import list_project_names
from provisioning import desired, marker
from provisioning.bridgefile import BridgeFile, EndpointSpec, RuleSpec, WebhookSpec

SECRET_FIELDS = frozenset({"access_secret", "auth_header"})
WRITES = ("create", "update", "prune")


@dataclass
class Change:
    """One object's fate: create, update, unchanged, prune (would prune in a plan) or conflict."""

    kind: str  # endpoint | rule | webhook
    name: str
    action: str
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""
    current_id: int | None = None
    spec: Any = None
    secret: str | None = field(default=None, repr=False)
    project: str | None = None  # webhooks only

    def public(self) -> dict[str, Any]:
        """What plan and apply print; secrets are never shown."""
        shown = {k: {"from": _shown(k, old), "to": _shown(k, new)} for k, (old, new) in self.diff.items()}
        out = {"kind": self.kind, "name": self.name, "action": self.action, "changes": shown}
        if self.project:
            out["project"] = self.project
        if self.reason:
            out["reason"] = self.reason
        return out


def _shown(key: str, value: Any) -> Any:
    return "(sensitive)" if key in SECRET_FIELDS and value else value


@dataclass
class Plan:
    changes: list[Change]

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.action in WRITES]

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.action == "conflict"]

    def summary(self) -> dict[str, int]:
        actions = ("create", "update", "unchanged", "prune", "conflict")
        return {a: sum(c.action == a for c in self.changes) for a in actions}


def _compare(kind: str, name: str, current: Mapping[str, Any] | None, wanted: Mapping[str, Any],
             current_id: int | None, spec: Any) -> Change:
    if current is None:
        return Change(kind, name, "create", {k: (None, v) for k, v in wanted.items()}, spec=spec)
    diff = {k: (current.get(k), v) for k, v in wanted.items() if current.get(k) != v}
    return Change(kind, name, "update" if diff else "unchanged", diff, current_id=current_id, spec=spec)


def _endpoint(spec: EndpointSpec, current: Registry | None, secret: str | None) -> Change:
    if current is not None and current.type != spec.provider:
        return Change("endpoint", spec.name, "conflict", {"provider": (current.type, spec.provider)},
                      reason="Harbor cannot change a registry's type: rename the endpoint or delete the old one",
                      current_id=current.id, spec=spec)
    wanted = desired.endpoint_wanted(spec)
    change = _compare("endpoint", spec.name, desired.endpoint_view(current) if current else None, wanted,
                      current.id if current else None, spec)
    if secret is not None:
        stored = marker.split(current.description)[2] if current else None
        if not marker.matches(stored, secret):
            change.diff["access_secret"] = (stored and "(sensitive)", secret)
            change.action = "create" if current is None else "update"
    change.secret = secret
    return change


def _rule(spec: RuleSpec, current: ReplicationPolicy | None) -> Change:
    view = desired.rule_view(current) if current else None
    return _compare("rule", spec.name, view, desired.rule_wanted(spec), current.id if current else None, spec)


def _webhook(spec: WebhookSpec, current: WebhookPolicy | None, auth_header: str | None) -> Change:
    view = desired.webhook_view(current) if current else None
    change = _compare("webhook", spec.name, view, desired.webhook_wanted(spec, auth_header),
                      current.id if current else None, spec)
    change.secret, change.project = auth_header, spec.project
    return change


def _secret(bridge: BridgeFile, kind: str, name: str, env: str | None, key: str,
            environ: Mapping[str, str] | None) -> str | None:
    if env is None:
        return None
    if kind == "webhooks" and bridge.webhooks[bridge.index(kind, name)].from_bridge:
        return bridge.secret(env, "bridge.intake_token_env", environ)
    return bridge.secret(env, f"{kind}[{bridge.index(kind, name)}].{key}", environ)


def _webhooks_by_project(client: HarborClient, projects: set[str]) -> dict[str, list[WebhookPolicy] | None]:
    """Each project's webhook policies; None for a project Harbor does not have."""
    found: dict[str, list[WebhookPolicy] | None] = {}
    for project in sorted(projects):
        try:
            found[project] = list(client.webhook_policies.list(project))
        except NotFound:
            found[project] = None
    return found


def make_plan(client: HarborClient, bridge: BridgeFile, *, prune: bool = False,
              environ: Mapping[str, str] | None = None) -> Plan:
    """Compare the file with Harbor; `prune` adds the marked objects the file no longer has."""
    registries = {r.name: r for r in client.registries.list()}
    policies = {p.name: p for p in client.replication_policies.list()}
    # Pruning looks at every project's webhooks: the file may no longer name the project of a dropped one.
    projects = {w.project for w in bridge.webhooks} | (set(list_project_names(client)) if prune else set())
    hooks = _webhooks_by_project(client, projects)
    changes = [_endpoint(e, registries.get(e.name),
                         _secret(bridge, "endpoints", e.name, e.access_secret_env, "access_secret_env", environ))
               for e in bridge.endpoints]
    changes += [_rule(r, policies.get(r.name)) for r in bridge.rules]
    for spec in bridge.webhooks:
        header = _secret(bridge, "webhooks", spec.name, spec.auth_header_env, "auth_header_env", environ)
        if hooks[spec.project] is None:
            changes.append(Change("webhook", spec.name, "conflict", reason=f"project {spec.project} not found",
                                  spec=spec, project=spec.project))
            continue
        current = next((p for p in hooks[spec.project] if p.name == spec.name), None)
        changes.append(_webhook(spec, current, header))
    if prune:
        changes += _prunes(bridge, registries, policies, hooks)
    return Plan(changes)


def _prunes(bridge: BridgeFile, registries: dict[str, Registry], policies: dict[str, ReplicationPolicy],
            hooks: dict[str, list[WebhookPolicy] | None]) -> list[Change]:
    """Marked objects missing from the file, webhooks first: rules hold endpoints, Harbor refuses otherwise."""
    def marked(obj: Any) -> bool:
        return marker.split(obj.description)[1]

    wanted_hooks = {w.name for w in bridge.webhooks}
    found = [Change("webhook", p.name, "prune", current_id=p.id, project=project)
             for project, items in hooks.items() for p in items or [] if marked(p) and p.name not in wanted_hooks]
    found += [Change("rule", name, "prune", current_id=p.id) for name, p in policies.items()
              if marked(p) and bridge.rule(name) is None]
    wanted_endpoints = {e.name for e in bridge.endpoints}
    found += [Change("endpoint", name, "prune", current_id=r.id) for name, r in registries.items()
              if marked(r) and name not in wanted_endpoints]
    return found


@dataclass
class ApplyResult:
    done: list[Change] = field(default_factory=list)
    failed: Change | None = None
    error: HarborError | None = None
    not_done: list[Change] = field(default_factory=list)


def apply(client: HarborClient, plan: Plan) -> ApplyResult:
    """Run the plan's writes in order; the first failure stops it, and the result says what was done."""
    result = ApplyResult()
    registry_ids = {r.name: r.id for r in client.registries.list()}
    pending = plan.writes
    for index, change in enumerate(pending):
        try:
            _write(client, change, registry_ids)
        except HarborError as exc:
            result.failed, result.error, result.not_done = change, exc, pending[index + 1:]
            break
        result.done.append(change)
    return result


def _write(client: HarborClient, change: Change, registry_ids: dict[str, int]) -> None:
    spec, cid = change.spec, change.current_id
    if change.action == "prune":
        _delete(client, change)
    elif change.kind == "endpoint" and change.action == "create":
        registry_ids[spec.name] = client.registries.create(desired.registry_body(spec, change.secret))
    elif change.kind == "endpoint":
        client.registries.update(cid, desired.registry_update(spec, change.secret))
    elif change.kind == "rule":
        body = desired.policy_body(spec, registry_ids[spec.endpoint])
        if cid is None:
            client.replication_policies.create(body)
        else:
            client.replication_policies.update(cid, body)
    else:
        body = desired.webhook_body(spec, change.secret)
        if cid is None:
            client.webhook_policies.create(spec.project, body)
        else:
            client.webhook_policies.update(spec.project, cid, body)


def _delete(client: HarborClient, change: Change) -> None:
    if change.kind == "webhook":
        client.webhook_policies.delete(change.project, change.current_id)
    elif change.kind == "rule":
        client.replication_policies.delete(change.current_id)
    else:
        client.registries.delete(change.current_id)
