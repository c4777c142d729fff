"""SWR naming rules for organizations, repositories and tags, plus the OCI distribution name grammar."""

from __future__ import annotations

import re
from collections.abc import Iterator

ORGANIZATION_MAX = 64
REPOSITORY_MAX = 128
NAME_MAX = 255
RESERVED_ORGANIZATIONS = frozenset({"library"})

# swr.md §4.1/§4.2 "conservative validators": the API prose, minus what the TF provider and FAQ disagree on.
# The checks below diagnose rule by rule; these regexes state the same language in one line each.
ORGANIZATION_RE = re.compile(r"[a-z][a-z0-9]*(?:(?:[._]|__|-+)[a-z0-9]+)*")
SEGMENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# distribution/reference: path-component grammar, components joined by "/".
# The distribution spec writes the separator as `[-]*`; an empty separator only extends the alphanumeric
# run, so `-+` accepts the same names without the nested quantifiers that backtrack exponentially in re.
OCI_COMPONENT_RE = SEGMENT_RE
_SEPARATOR_RUN_RE = re.compile(r"[._-]{2,}")


class NamingError(ValueError):
    """A name SWR would refuse; `rule` is a short id such as "organization.start", `part` the offending name."""

    def __init__(self, rule: str, part: str, detail: str):
        self.rule, self.part, self.detail = rule, part, detail
        kind = rule.split(".", 1)[0]
        super().__init__(f"{kind} {part!r} {detail} [{rule}]")


def _bad_chars(text: str, allowed: str) -> str:
    return "".join(sorted(set(re.sub(f"[{allowed}]", "", text))))


def _separator_errors(kind: str, part: str, text: str) -> Iterator[NamingError]:
    """Adjacent separators: only "__" and runs of "-" are allowed; "___" has its own rule."""
    for run in _SEPARATOR_RUN_RE.findall(text):
        if set(run) == {"-"} or run == "__":
            continue
        if set(run) == {"_"}:
            yield NamingError(f"{kind}.underscores", part, f"has {run!r}: at most two consecutive underscores")
        else:
            yield NamingError(f"{kind}.separators", part, f"has {run!r}: periods, underscores and hyphens "
                              "cannot be next to each other")


def _shape_errors(kind: str, name: str, maximum: int, allowed: str, shown: str) -> list[NamingError]:
    """Length and characters; a name that fails on characters is not diagnosed further."""
    found = []
    if not 1 <= len(name) <= maximum:
        found.append(NamingError(f"{kind}.length", name, f"must be 1 to {maximum} characters, not {len(name)}"))
    bad = _bad_chars(name, allowed)
    if bad:
        found.append(NamingError(f"{kind}.charset", name, f"has {bad!r}: only lowercase letters, digits, "
                                 f"{shown} are allowed"))
    return found


def _organization_errors(name: str) -> Iterator[NamingError]:
    shape = _shape_errors("organization", name, ORGANIZATION_MAX, "a-z0-9._-", "'.', '_' and '-'")
    yield from shape
    if not name or any(e.rule.endswith(".charset") for e in shape):
        return
    found = list(_separator_errors("organization", name, name))
    if not re.match("[a-z]", name):
        found.insert(0, NamingError("organization.start", name, "must start with a lowercase letter"))
    if not re.search("[a-z0-9]$", name):
        found.append(NamingError("organization.end", name, "must end with a lowercase letter or digit"))
    yield from found
    if name in RESERVED_ORGANIZATIONS:
        yield NamingError("organization.reserved", name, "is reserved by SWR")


def _repository_errors(name: str) -> Iterator[NamingError]:
    shape = _shape_errors("repository", name, REPOSITORY_MAX, "a-z0-9._/-", "'.', '_', '-' and '/'")
    yield from shape
    if not name or any(e.rule.endswith(".charset") for e in shape):
        return
    for segment in name.split("/"):
        yield from _segment_errors(name, segment)


def _segment_errors(name: str, segment: str) -> Iterator[NamingError]:
    if not segment:
        yield NamingError("repository.segment", name, "has an empty path segment (leading, trailing or "
                          "doubled '/')")
        return
    found = list(_separator_errors("repository", name, segment))
    if not re.match("[a-z0-9]", segment):
        found.insert(0, NamingError("repository.start", name, f"segment {segment!r} must start with a "
                                    "lowercase letter or digit"))
    if not re.search("[a-z0-9]$", segment):
        found.append(NamingError("repository.end", name, f"segment {segment!r} must end with a lowercase "
                                 "letter or digit"))
    yield from found


def _tag_errors(tag: str) -> Iterator[NamingError]:
    if not 1 <= len(tag) <= 128:
        yield NamingError("tag.length", tag, f"must be 1 to 128 characters, not {len(tag)}")
        if not tag:
            return
    if not re.match("[A-Za-z0-9_]", tag):
        yield NamingError("tag.start", tag, "must start with a letter, digit or '_'")
    bad = _bad_chars(tag, "A-Za-z0-9._-")
    if bad:
        yield NamingError("tag.charset", tag, f"has {bad!r}: only letters, digits, '.', '_' and '-' are allowed")


def _oci_name_errors(name: str) -> Iterator[NamingError]:
    if len(name) > NAME_MAX:
        yield NamingError("name.length", name, f"is {len(name)} characters; the OCI limit is {NAME_MAX}")
    for component in name.split("/"):
        if not OCI_COMPONENT_RE.fullmatch(component):
            yield NamingError("name.component", name, f"path component {component!r} does not match "
                              f"{OCI_COMPONENT_RE.pattern}")


def _destination_errors(full_name: str) -> Iterator[NamingError]:
    org, sep, repo = full_name.partition("/")
    if not sep or not repo:
        yield NamingError("destination.depth", full_name, "needs at least <organization>/<repository>")
    found = list(_organization_errors(org))
    if repo:
        found += _repository_errors(repo)
    yield from found
    # SWR's rules are stricter than the OCI grammar; this is the backstop should they ever diverge.
    if not found and repo:
        yield from _oci_name_errors(full_name)


def _first(errors: Iterator[NamingError]) -> None:
    for error in errors:
        raise error


def check_organization(name: str) -> None:
    """Raises NamingError unless `name` is a valid SWR organization."""
    _first(_organization_errors(name))


def check_repository(name: str) -> None:
    """Raises NamingError unless `name` is a valid repository path under an organization."""
    _first(_repository_errors(name))


def check_tag(tag: str) -> None:
    _first(_tag_errors(tag))


def check_oci_name(name: str) -> None:
    """Raises NamingError unless `name` satisfies the OCI distribution name grammar."""
    _first(_oci_name_errors(name))


def check_destination(full_name: str) -> None:
    """`org/repo[/...]`: the organization, the repository under it, and the OCI grammar."""
    _first(_destination_errors(full_name))


def namespace_violations(namespace: str) -> list[NamingError]:
    """Every rule a fixed namespace breaks: `organization[/path...]`, where each repository lands under it."""
    org, _, path = namespace.partition("/")
    found = list(_organization_errors(org))
    for segment in path.split("/") if path else ():
        found += _segment_errors(namespace, segment)
    return found


def violations(full_name: str, tag: str | None = None) -> list[NamingError]:
    """Every rule `full_name` (and `tag`, if given) breaks, in order, without raising."""
    found = list(_destination_errors(full_name))
    if tag is not None:
        found += _tag_errors(tag)
    return found
