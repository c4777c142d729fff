"""`swr-bridge preview`: where each repository a rule matches lands in SWR, with collisions and naming problems."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import click

from adapter.swr import naming
from adapter.swr.glob import GlobPatternError, glob_match
from adapter.swr.mapping import MappingRule, map_repository, replace_namespace
from harbor_client.client import HarborClient
from harbor_client.errors import NotFound
from harbor_client.repositories import Artifact, list_artifacts, list_repositories
from provisioning.bridgefile import BridgeFile, RuleSpec, load_bridgefile
from provisioning.clikit import EXIT_USAGE, CliError, connect, file_option, guarded
from provisioning.printers import emit, output_option, table

COLUMNS = ("rule", "source", "destination", "artifacts", "problems")


@dataclass
class Landing:
    """One source repository of a rule, where it lands, and what is wrong with that (or with the rule)."""

    rule: str
    endpoint: str
    source: str
    destination: str | None
    artifacts: int
    problems: list[str] = field(default_factory=list)


def _artifact_matches(rule: RuleSpec, artifact: Artifact) -> bool:
    """Harbor's tag filter (an untagged artifact is matched against "") and label filter (all labels)."""
    tags = artifact.tags or ("",)
    tag_ok = rule.tags in ("", "**") or any(glob_match(rule.tags, t) for t in tags)
    return tag_ok and set(rule.labels) <= set(artifact.labels)


def matched(client: HarborClient, rule: RuleSpec) -> list[tuple[str, int]]:
    """(repository, matching artifact count) for each repository Harbor would replicate for the rule."""
    found = []
    for repo in list_repositories(client, rule.project):
        if not glob_match(rule.name_filter, repo.name):
            continue
        narrows = rule.tags not in ("", "**") or rule.labels
        count = sum(_artifact_matches(rule, a) for a in list_artifacts(client, repo.name)) if narrows \
            else repo.artifact_count
        if count:
            found.append((repo.name, count))
    return found


def land(rule: RuleSpec, source: str, count: int, mapping: list[MappingRule]) -> Landing:
    """Harbor's flattening, then the endpoint's own mapping (if given), then SWR's naming rules."""
    try:
        dest = map_repository(mapping, replace_namespace(source, rule.namespace, rule.flatten))
    except ValueError as exc:
        return Landing(rule.name, rule.endpoint, source, None, count, [f"flattening: {exc}"])
    problems = [f"naming: {v}" for v in naming.violations(dest)]
    return Landing(rule.name, rule.endpoint, source, dest, count, problems)


def landings(client: HarborClient, rules: list[RuleSpec], mapping: list[MappingRule]) -> list[Landing]:
    out: list[Landing] = []
    for rule in rules:
        try:
            out += [land(rule, source, count, mapping) for source, count in matched(client, rule)]
        except NotFound:
            out.append(Landing(rule.name, rule.endpoint, f"{rule.project}/", None, 0,
                               [f"project {rule.project} not found in Harbor"]))
        except GlobPatternError as exc:
            out.append(Landing(rule.name, rule.endpoint, rule.name_filter, None, 0, [f"filter: {exc}"]))
    _flag_collisions(out)
    return out


def _flag_collisions(found: list[Landing]) -> None:
    """Several sources landing in one repository of one endpoint overwrite each other's tags."""
    by_target: dict[tuple[str, str], list[Landing]] = defaultdict(list)
    for item in found:
        if item.destination:
            by_target[(item.endpoint, item.destination)].append(item)
    for group in by_target.values():
        if len({(i.rule, i.source) for i in group}) > 1:
            for item in group:
                others = ", ".join(f"{o.source} ({o.rule})" for o in group if o is not item)
                item.problems.append(f"collision: {item.destination} also receives {others}")


def _endpoint_mapping(path: str | None) -> list[MappingRule]:
    if not path:
        return []
    from adapter.config import ConfigError, load_config

    try:
        return list(load_config(path).mapping)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _chosen(bridge: BridgeFile, rule: str | None) -> list[RuleSpec]:
    if rule is None:
        return list(bridge.rules)
    found = bridge.rule(rule)
    if found is None:
        raise CliError(f"{bridge.source}: no rule named {rule!r}", EXIT_USAGE)
    return [found]


@click.command()
@click.argument("rule", required=False)
@file_option(required=True)
@click.option("--endpoint-config", type=click.Path(dir_okay=False),
              help="the swr-bridge endpoint's config: apply its mapping after Harbor's flattening")
@output_option
@guarded
def preview(rule: str | None, path: str, endpoint_config: str | None, fmt: str) -> None:
    """Where each repository RULE (default: every rule) matches lands in SWR; exit 1 on any problem."""
    bridge = load_bridgefile(path)
    rules, mapping = _chosen(bridge, rule), _endpoint_mapping(endpoint_config)
    with connect(bridge) as client:
        found = landings(client, rules, mapping)
    problems = sum(len(i.problems) for i in found)
    rows = [{"rule": i.rule, "endpoint": i.endpoint, "source": i.source, "destination": i.destination,
             "artifacts": i.artifacts, "problems": i.problems} for i in found]
    idle = [r.name for r in rules if not any(i.rule == r.name for i in found)]
    summary = [f"rule {name} matches no repository" for name in idle]
    summary.append(f"{len(found)} repositories, {problems} problem(s)")
    emit({"landings": rows, "problems": problems, "rules_matching_nothing": idle}, fmt,
         lambda: "\n".join([table([{**r, "problems": "; ".join(r["problems"]) or "ok"} for r in rows], COLUMNS),
                            *summary]))
    if problems:
        raise click.exceptions.Exit(1)


def register(group: click.Group) -> None:
    group.add_command(preview)
