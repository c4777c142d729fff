"""From rules to jobs: references checked and mapped before anything is sent, then source tags listed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from adapter.swr.naming import NamingError, check_destination, check_tag
from adapter.sync.engine import Job, Result, ordered, retryable
from adapter.sync.errors import InputError, Leniency, describe
from adapter.sync.layout import Layout
from adapter.sync.references import Ref, fill_destination, pair_tags, parse
from adapter.sync.remote import Remotes


@dataclass
class Rule:
    source: Ref
    destinations: list[Ref]
    where: str
    layout: Layout | None = None


def _mapped(ref: Ref, mapping: list, swr: bool, where: str) -> Ref:
    """The destination after the endpoint's mapping rules (MappingRule), checked against SWR's naming rules."""
    try:
        if mapping:
            from adapter.swr.mapping import map_repository

            ref = replace(ref, repository=map_repository(mapping, ref.repository))
        if swr:
            check_destination(ref.repository)
            for tag in ref.tags:
                check_tag(tag)
    except NamingError as exc:
        raise InputError(where, f"destination {ref.host}/{ref.repository}: {exc}") from None
    except ValueError as exc:
        raise InputError(where, f"destination {ref.host}/{ref.repository}: {exc}") from None
    return ref


def is_swr(remotes: Remotes, ref: Ref) -> bool:
    return remotes.get(ref.host, ref.repository).is_swr or ref.host.startswith("swr.")


def make_rule(source: str, dests: list[str], where: str, remotes: Remotes, *, registry=None, namespace=None,
              mapping=(), lenient: Leniency | None = None) -> Rule:
    """One checked rule; every problem is an InputError that names `where`."""
    src = parse(source, where, lenient=lenient)
    refs = []
    for text in dests:
        ref = fill_destination(text, src, registry, namespace, where, lenient)
        if src.digest and src.tags and not (ref.tags or ref.digest):  # repo:tag@digest keeps its tag
            ref = replace(ref, tags=src.tags)
        refs.append(_mapped(ref, list(mapping), is_swr(remotes, ref), where))
        if src.tags or src.digest:
            pair_tags([src.digest] if src.digest else list(src.tags), refs[-1], where)
    layout = Layout(src.layout, where) if src.layout else None
    return Rule(src, refs, where, layout)


def _source_refs(rule: Rule, source) -> list[str]:
    src = rule.source
    if src.digest:
        return [src.digest]
    if src.tags:
        return list(src.tags)
    tags = source.tags(src.repository)
    if src.regex is not None:
        pattern = re.compile(src.regex)
        tags = [t for t in tags if pattern.search(t)]
    return sorted(tags)


def expand(rule: Rule, remotes: Remotes, retry) -> tuple[list[Job], list[Result]]:
    """Jobs for every selected tag and destination; a source that cannot be listed is a failed result.

    `retry(what, call)` is the engine's retry policy.
    """
    src = rule.source
    source = rule.layout or remotes.get(src.host, src.repository)
    try:
        refs = retry(f"list tags of {src.name}", lambda: _source_refs(rule, source))
    except Exception as exc:  # this rule fails; the others go on
        return [], [Result(src.text, ", ".join(d.name for d in rule.destinations), "failed", describe(exc),
                           retryable=retryable(exc))]
    jobs, failures = [], []
    for dest in rule.destinations:
        try:
            pairs = pair_tags(refs, dest, rule.where)
        except InputError as exc:
            failures.append(Result(src.text, dest.name, "failed", str(exc)))
            continue
        remote = remotes.get(dest.host, dest.repository)
        jobs += [Job(source, src.repository, s, remote, dest.repository, d, src.at(s)) for s, d in pairs]
    if not refs:
        failures.append(Result(src.text, ", ".join(d.name for d in rule.destinations), "skipped",
                               "the source has no tags that match"))
    return jobs, failures


def expand_each(rules: list[Rule], remotes: Remotes, retry, workers: int, failures: list[Result]) -> Iterator[list[Job]]:
    """Each rule's jobs, in rule order, as soon as its tags are listed (rules are listed side by side: one
    request per repository and page). Rules that fail become results in `failures`."""
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="sync-plan") as pool:
        for found, failed in ordered(pool, lambda r: expand(r, remotes, retry), rules, 2 * max(1, workers)):
            failures += failed
            yield found


def destinations(rules: list[Rule], remotes: Remotes) -> list[tuple]:
    """(remote, repository) for every destination of every rule: known before any tag is listed."""
    return [(remotes.get(d.host, d.repository), d.repository) for rule in rules for d in rule.destinations]
