"""Where a Harbor repository lands in SWR: Harbor's namespace replacement and first-match mapping rules."""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field

from marshmallow import ValidationError, fields, validate

from adapter.swr import naming
from adapter.swr.glob import compile_glob, glob_match
from harbor_client.units import flatten_to_count
from provisioning.schemakit import Converted, Strict


def _go_path_join(prefix: str, name: str) -> str:
    """Go's path.Join: skips empty elements and cleans the result ("a//b" -> "a/b", "a/./b" -> "a/b")."""
    joined = "/".join(part for part in (prefix, name) if part)
    if not joined:
        return ""
    cleaned = posixpath.normpath(joined)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def replace_namespace(repository: str, namespace: str, replace_count: int) -> str:
    """Reproduces Harbor's replaceNamespace (src/controller/replication/flow/stage.go)."""
    if not namespace:
        return repository
    components = repository.split("/")
    src_length = len(components)
    if replace_count < 0:
        prefix = namespace
    elif replace_count > src_length - 1:
        # Harbor's own wording (Go %q and %v formatting), so that a preview reads like the execution error.
        raise ValueError(
            f"the source repository {json.dumps(repository, ensure_ascii=False)} contains only "
            f"{src_length - 1} path components [{' '.join(components[:-1])}] excepting the last one, "
            f"but the destination namespace flattening level is {replace_count}")
    else:
        prefix = namespace + "/" + "/".join(components[replace_count:src_length - 1])
    return _go_path_join(prefix, components[-1])


@dataclass(frozen=True)
class MappingRule:
    match: str
    namespace: str
    flatten: int = -1

    def apply(self, repository: str) -> str | None:
        if not glob_match(self.match, repository):
            return None
        return replace_namespace(repository, self.namespace, self.flatten)


def _valid_glob(pattern: str) -> None:
    try:
        compile_glob(pattern)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _valid_namespace(namespace: str) -> None:
    """Every push through the rule would be refused by SWR: say so when the file is read, not at the push."""
    found = naming.namespace_violations(namespace) if namespace else []
    if found:
        raise ValidationError([f"expected an SWR organization[/path]: {error}" for error in found])


class MappingRuleSchema(Strict):
    model = MappingRule
    match = fields.String(required=True, validate=[validate.Length(min=1), _valid_glob])
    namespace = fields.String(required=True, validate=_valid_namespace)
    flatten = Converted(flatten_to_count, load_default=-1)  # a flatten word; YAML may give 1/2/3 as integers


def map_repository(rules: list[MappingRule], repository: str) -> str:
    """First matching rule wins; identity when nothing matches."""
    for rule in rules:
        dest = rule.apply(repository)
        if dest is not None:
            return dest
    return repository


@dataclass
class PreviewResult:
    """Where each source lands, and what would go wrong: shared destinations, SWR naming, flattening."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    collisions: dict[str, list[str]] = field(default_factory=dict)
    violations: dict[str, list[naming.NamingError]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.collisions or self.violations or self.errors)


def preview(rules: list[MappingRule], names) -> PreviewResult:
    """Maps every name; problems are reported per name (violations and errors keyed by source)."""
    result = PreviewResult()
    sources = defaultdict(list)
    for name in dict.fromkeys(names):
        try:
            dest = map_repository(rules, name)
        except ValueError as exc:
            result.errors[name] = str(exc)
            continue
        result.pairs.append((name, dest))
        sources[dest].append(name)
        found = naming.violations(dest)
        if found:
            result.violations[name] = found
    result.collisions = {dest: srcs for dest, srcs in sources.items() if len(srcs) > 1}
    return result
