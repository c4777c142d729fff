"""`swr-bridge plan | apply | replicate` and the inventory groups: thin click commands over harbor_client."""

from __future__ import annotations

import os
import time

import click
import requests

from harbor_client import versions
from harbor_client.client import HarborClient
from provisioning import bridgewait, follow, provision, reports, rerun
from provisioning.bridgefile import BridgeFile, load_bridgefile
from provisioning.clikit import (
    EXIT_USAGE,
    CliError,
    connect,
    exit_code_for,
    file_option,
    guarded,
    load,
    stdin_is_terminal,
)
from provisioning.printers import emit, output_option


@click.command()
@file_option(required=True)
@click.option("--prune", is_flag=True, help="also list marked objects the file no longer has (would prune)")
@output_option
@guarded
def plan(path: str, prune: bool, fmt: str) -> None:
    """Show what apply would change in Harbor; secrets show as (sensitive)."""
    bridge = load_bridgefile(path)
    with connect(bridge) as client:
        the_plan = provision.make_plan(client, bridge, prune=prune)
        version = client.harbor_version
    emit({**reports.plan_data(the_plan), "harbor_version": str(version) if version else None}, fmt,
         lambda: f"Harbor {versions.shown(version)}\n" + reports.plan_text(the_plan, bridge.source))
    if the_plan.conflicts:
        raise CliError(f"{len(the_plan.conflicts)} conflict(s): apply would refuse this file")


@click.command("apply")
@file_option(required=True)
@click.option("--prune", is_flag=True, help="delete marked endpoints, rules and webhooks the file no longer has")
@click.option("--yes", is_flag=True, help="do not ask for confirmation (required when stdin is not a terminal)")
@output_option
@guarded
def apply_command(path: str, prune: bool, yes: bool, fmt: str) -> None:
    """Make Harbor match the file: endpoints, then rules, then webhooks (then prunes, in reverse)."""
    bridge = load_bridgefile(path)
    with connect(bridge) as client:
        the_plan = provision.make_plan(client, bridge, prune=prune)
        if the_plan.conflicts:
            click.echo(reports.plan_text(the_plan, bridge.source), err=True)
            raise CliError(f"{len(the_plan.conflicts)} conflict(s); nothing was changed")
        if the_plan.writes and not yes:
            _confirm(the_plan, bridge.source)
        result = provision.apply(client, the_plan)
        note = versions.webhook_note(client.harbor_version) if _replication_webhooks(bridge) else None
    if note:
        click.echo(note, err=True)
    nothing = f"Nothing to do: Harbor matches {bridge.source}."
    emit(reports.apply_data(result), fmt, lambda: reports.apply_text(result) if the_plan.writes else nothing)
    if result.failed:
        raise CliError(f"apply stopped at {result.failed.kind} {result.failed.name}", exit_code_for(result.error))


def _replication_webhooks(bridge) -> bool:
    return any("REPLICATION" in spec.events for spec in bridge.webhooks)


def _confirm(the_plan: provision.Plan, source: str) -> None:
    if not stdin_is_terminal():
        raise CliError("apply changes Harbor: pass --yes when stdin is not a terminal", EXIT_USAGE)
    click.echo(reports.plan_text(the_plan, source), err=True)
    click.confirm(f"Apply {len(the_plan.writes)} change(s) to Harbor?", abort=True, err=True)


@click.command()
@click.argument("rule")
@file_option(required=False)
@click.option("--wait", is_flag=True, help="follow the execution to its end; exit 1 if a task failed")
@click.option("--timeout", type=click.FloatRange(min=0), help="with --wait: give up after this many seconds")
@click.option("--retry-failed", is_flag=True, help="re-run only the repositories that failed last time (waits)")
@click.option("--interval", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
              help="seconds between polls")
@click.option("--settle", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="seconds a failed verdict must hold, as jobservice retries failed tasks")
@click.option("--log-lines", type=click.IntRange(min=1), default=20, show_default=True,
              help="log lines shown per failed task")
@click.option("--progress", type=click.Choice(["auto", "bar", "lines", "none"]), default="auto", show_default=True,
              help="auto: a bar on a terminal, plain lines otherwise")
@click.option("--bridge", "bridge_url", metavar="URL",
              help="wait on the webhook bridge's API at URL instead of polling Harbor (default: bridge.url of the file)")
@click.option("--bridge-token-env", metavar="NAME",
              help="env variable with the bridge's API token (default: bridge.token_env, else BRIDGE_API_TOKEN)")
@click.option("--bridge-grace", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="seconds for the bridge to hear of the execution before Harbor is polled instead")
@output_option
@guarded
def replicate(rule: str, path: str | None, wait: bool, timeout: float | None, retry_failed: bool, interval: float,
              settle: float, log_lines: int, progress: str, bridge_url: str | None, bridge_token_env: str | None,
              bridge_grace: float, fmt: str) -> None:
    """Start REPLICATE for RULE (a rule name); with --wait, follow it to an exit code."""
    bridge = load(path)
    if bridge and bridge.rule(rule) is None:
        raise CliError(f"{bridge.source}: no rule named {rule!r}", EXIT_USAGE)
    target = _bridge_target(bridge, bridge_url, bridge_token_env) if wait or retry_failed else None
    with connect(bridge) as client:
        policy = client.replication_policies.get_by_name(rule)
        if policy is None:
            raise CliError(f"Harbor has no rule named {rule!r} (run swr-bridge apply first?)", EXIT_USAGE)
        run = rerun.start_retry(client, policy) if retry_failed else None
        if retry_failed and run is None:
            emit({"rule": rule, "retried": []}, fmt, lambda: f"nothing to retry: the last execution of {rule} "
                 "has no failed tasks")
            return
        execution_id = run.execution_id if run else client.executions.start(policy.id)
        _announce(rule, execution_id, run)
        if not (wait or run):
            emit({"rule": rule, "execution_id": execution_id}, fmt, lambda: str(execution_id))
            return
        options = {"timeout": timeout, "interval": interval, "settle": settle, "bridge": target, "grace": bridge_grace}
        code = _follow(client, execution_id, rule, options, log_lines, progress, fmt)
        warning = rerun.cleanup(client, run) if run else None
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if code:
        raise click.exceptions.Exit(code)


def _announce(rule: str, execution_id: int, run: rerun.RetryRun | None) -> None:
    if run:
        click.echo(f"retrying {len(run.repositories)} failed repositories of execution {run.source_execution.id} "
                   f"with the temporary rule {run.policy_name}: {', '.join(run.repositories)}", err=True)
    click.echo(f"started execution {execution_id} of rule {run.policy_name if run else rule}", err=True)


def _bridge_target(bridge: BridgeFile | None, url: str | None, token_env: str | None) -> bridgewait.BridgeTarget | None:
    """Where to wait: --bridge, else the file's bridge: section; None to poll Harbor."""
    section = bridge.bridge if bridge else None
    url = url or (section.url if section else None)
    if not url:
        return None
    name = token_env or (section.token_env if section else "BRIDGE_API_TOKEN")
    token = os.environ.get(name)
    if not token:
        raise CliError(f"waiting on the bridge needs its API token: env variable {name} is not set", EXIT_USAGE)
    return bridgewait.BridgeTarget(url, token)


def _follow(client: HarborClient, execution_id: int, rule: str, options: dict, log_lines: int, progress: str,
            fmt: str) -> int:
    """Follow, print the verdict (failed tasks with their log tails) and return the exit code."""
    report = follow.reporter(progress)
    tails: dict[int, list[str]] = {}
    try:
        (snap, tails), verdict = _wait(client, execution_id, options, report), None
    except follow.FollowTimeout as exc:
        snap, verdict = exc.snapshot, "timeout"
    finally:
        if report:
            report.close()
    verdict = verdict or ("succeeded" if snap.succeeded else "failed")
    tails = {t.id: "\n".join(tails[t.id][-log_lines:]) if t.id in tails
             else follow.log_tail(client, execution_id, t, log_lines) for t in snap.failed_tasks}
    emit(reports.execution_data(snap, rule, tails, verdict), fmt,
         lambda: reports.execution_text(snap, rule, tails, verdict))
    if verdict == "timeout":
        click.echo(f"error: execution {execution_id} is not final after {options['timeout']:g}s; "
                   "it goes on in Harbor", err=True)
    return 0 if verdict == "succeeded" else 1


def _wait(client: HarborClient, execution_id: int, options: dict, report) -> tuple[follow.Snapshot, dict]:
    """The final snapshot (and the log tails the bridge already has): from the bridge if one is set and
    answers, else by polling Harbor as before."""
    timeout, start = options["timeout"], time.monotonic()
    if options["bridge"]:
        with requests.Session() as session:
            follower = bridgewait.BridgeFollower(options["bridge"], session, grace=options["grace"])
            try:
                return follower.follow(execution_id, timeout=timeout, report=report)
            except bridgewait.BridgeUnavailable as exc:
                click.echo(f"bridge: {exc}; polling Harbor instead", err=True)
        timeout = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
    snap = follow.follow(client, execution_id, report=report, timeout=timeout, interval=options["interval"],
                         settle=options["settle"])
    return snap, {}


def register(group: click.Group) -> None:
    """Mount the provisioning and inventory commands on the `swr-bridge` group."""
    from provisioning import inventory

    for command in (plan, apply_command, replicate, *inventory.GROUPS):
        group.add_command(command)
