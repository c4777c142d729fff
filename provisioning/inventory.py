"""Inventory commands: `endpoints list|show|ping`, `rules list|show|delete`, `executions list|show`, `webhooks list`."""

from __future__ import annotations

from itertools import islice
from typing import Any

import click

from harbor_client import versions
from harbor_client.errors import BadRequest
from harbor_client.models import Registry, RegistryPing, ReplicationPolicy, WebhookPolicy
from provisioning import desired, follow
from provisioning.clikit import EXIT_USAGE, CliError, connect, file_option, guarded, load, stdin_is_terminal
from provisioning.printers import details, emit, emit_list, output_option, plain, table

ENDPOINT_COLUMNS = ("id", "name", "provider", "url", "status", "access_id", "verify_remote_cert", "managed")
RULE_COLUMNS = ("id", "name", "endpoint", "source", "destination", "trigger", "enabled", "managed")
EXECUTION_COLUMNS = ("id", "rule", "status", "trigger", "start_time", "total", "succeed", "failed", "in_progress")
TASK_COLUMNS = ("id", "status", "operation", "src_resource", "dst_resource", "start_time", "end_time")
WEBHOOK_COLUMNS = ("project", "id", "name", "url", "format", "events", "enabled", "managed")


def _endpoint_row(registry: Registry) -> dict[str, Any]:
    return {"id": registry.id, "name": registry.name, **desired.endpoint_view(registry), "status": registry.status,
            "creation_time": registry.creation_time, "update_time": registry.update_time}


def _rule_row(policy: ReplicationPolicy) -> dict[str, Any]:
    view = desired.rule_view(policy)
    namespace = view["destination.namespace"] or "(same path)"
    return {"id": policy.id, "name": policy.name, **view,
            "source": f"{view['source.project']}/{view['source.repositories']}",
            "destination": f"{namespace}, flatten {view['destination.flatten']}"}


def _find(items: Any, name: str, kind: str) -> Any:
    found = next((i for i in items if i.name == name), None)
    if found is None:
        raise CliError(f"Harbor has no {kind} named {name!r}", EXIT_USAGE)
    return found


def _sure(yes: bool, question: str) -> None:
    if yes:
        return
    if not stdin_is_terminal():
        raise CliError("pass --yes when stdin is not a terminal", EXIT_USAGE)
    click.confirm(question, abort=True, err=True)


def _list_and_show(group: click.Group, kind: str, listing: Any, row: Any, columns: tuple[str, ...],
                   list_help: str, show_help: str) -> None:
    """Adds `list` and `show NAME` to a group; both read Harbor's whole collection of one kind."""

    @group.command("list", help=list_help)
    @file_option(required=False)
    @output_option
    @guarded
    def list_all(path: str | None, fmt: str) -> None:
        with connect(load(path)) as client:
            rows = [row(item) for item in listing(client)]
        emit_list(rows, fmt, columns)

    @group.command("show", help=show_help)
    @click.argument("name")
    @file_option(required=False)
    @output_option
    @guarded
    def show_one(name: str, path: str | None, fmt: str) -> None:
        with connect(load(path)) as client:
            emit(row(_find(listing(client), name, kind)), fmt)


@click.group()
def endpoints() -> None:
    """Harbor's registry endpoints."""


_list_and_show(endpoints, "endpoint", lambda client: client.registries.list(), _endpoint_row, ENDPOINT_COLUMNS,
               "Every registry endpoint, with whether swr-bridge manages it.",
               "One endpoint (its secret is never shown).")


@endpoints.command("ping")
@click.argument("name")
@file_option(required=False)
@output_option
@guarded
def endpoints_ping(name: str, path: str | None, fmt: str) -> None:
    """Ask Harbor to health-check the endpoint; exit 1 when unhealthy."""
    with connect(load(path)) as client:
        registry = _find(client.registries.list(), name, "endpoint")
        try:
            client.registries.ping(RegistryPing(id=registry.id))
            result = {"name": name, "healthy": True, "message": "healthy"}
        except BadRequest as exc:
            result = {"name": name, "healthy": False, "message": "; ".join(exc.messages) or str(exc)}
        version = client.harbor_version
    result["harbor_version"] = str(version) if version else None
    emit(result, fmt, lambda: f"endpoint {name}: {result['message']} (Harbor {versions.shown(version)})")
    if not result["healthy"]:
        raise click.exceptions.Exit(1)


@click.group()
def rules() -> None:
    """Harbor's replication rules (policies)."""


_list_and_show(rules, "rule", lambda client: client.replication_policies.list(), _rule_row, RULE_COLUMNS,
               "Every replication rule: source, destination and flattening, trigger.",
               "One rule, field by field in bridge-file terms.")


@rules.command("delete")
@click.argument("name")
@file_option(required=False)
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@guarded
def rules_delete(name: str, path: str | None, yes: bool) -> None:
    """Delete a rule; Harbor refuses while one of its executions runs (exit 1)."""
    with connect(load(path)) as client:
        policy = _find(client.replication_policies.list(), name, "rule")
        _sure(yes, f"Delete rule {name} (id {policy.id}) from Harbor?")
        client.replication_policies.delete(policy.id)
    click.echo(f"deleted rule {name}")


@click.group()
def executions() -> None:
    """Replication executions and their tasks."""


@executions.command("list")
@click.option("--rule", help="only this rule's executions")
@click.option("--status", type=click.Choice(["InProgress", "Succeed", "Failed", "Stopped"]))
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@file_option(required=False)
@output_option
@guarded
def executions_list(rule: str | None, status: str | None, limit: int, path: str | None, fmt: str) -> None:
    """The newest executions first."""
    with connect(load(path)) as client:
        names = {p.id: p.name for p in client.replication_policies.list()}
        policy_id = next((i for i, n in names.items() if n == rule), None) if rule else None
        if rule and policy_id is None:
            raise CliError(f"Harbor has no rule named {rule!r}", EXIT_USAGE)
        pages = client.executions.list(policy_id=policy_id, status=status, sort="-start_time", page_size=limit)
        rows = [{**plain(e), "rule": names.get(e.policy_id)} for e in islice(pages, limit)]
    emit_list(rows, fmt, EXECUTION_COLUMNS)


@executions.command("show")
@click.argument("execution_id", type=int)
@click.option("--tasks", "with_tasks", is_flag=True, help="list the tasks")
@click.option("--logs", is_flag=True, help="add each task's log tail (implies --tasks)")
@click.option("--log-lines", type=click.IntRange(min=1), default=20, show_default=True)
@file_option(required=False)
@output_option
@guarded
def executions_show(execution_id: int, with_tasks: bool, logs: bool, log_lines: int, path: str | None,
                    fmt: str) -> None:
    """One execution; --tasks lists its tasks, --logs adds the tail of each task's job log."""
    with connect(load(path)) as client:
        execution = plain(client.executions.get(execution_id))
        tasks = list(client.executions.tasks(execution_id)) if with_tasks or logs else []
        rows = [{**plain(t), **({"log": follow.log_tail(client, execution_id, t, log_lines)} if logs else {})}
                for t in tasks]
    emit({"execution": execution, "tasks": rows} if rows else execution, fmt,
         lambda: _execution_text(execution, rows, with_tasks or logs))


def _execution_text(execution: dict[str, Any], rows: list[dict[str, Any]], with_tasks: bool) -> str:
    parts = [details(execution)]
    if with_tasks:
        parts.append(table(rows, TASK_COLUMNS))
    for row in rows:
        if "log" in row:
            parts.append(f"task {row['id']} log:\n" + "\n".join(f"  | {line}" for line in row["log"].splitlines()))
    return "\n\n".join(parts)


@click.group()
def webhooks() -> None:
    """Project webhook policies."""


@webhooks.command("list")
@click.option("--project", "projects", multiple=True, help="a project (repeatable); default: the file's projects")
@file_option(required=False)
@output_option
@guarded
def webhooks_list(projects: tuple[str, ...], path: str | None, fmt: str) -> None:
    """Webhook policies of the named projects (default: the projects in the bridge file)."""
    bridge = load(path)
    wanted = set(projects) or ({w.project for w in bridge.webhooks} | {r.project for r in bridge.rules} if bridge
                               else set())
    if not wanted:
        raise CliError("name a --project, or give a bridge file whose projects to list", EXIT_USAGE)
    with connect(bridge) as client:
        rows = [_webhook_row(project, p) for project in sorted(wanted)
                for p in client.webhook_policies.list(project)]
    emit_list(rows, fmt, WEBHOOK_COLUMNS)


def _webhook_row(project: str, policy: WebhookPolicy) -> dict[str, Any]:
    return {"project": project, "id": policy.id, "name": policy.name, **desired.webhook_view(policy)}


GROUPS = (endpoints, rules, executions, webhooks)
