"""Where a Harbor repository lands in SWR: Harbor's namespace replacement and first-match mapping rules."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from marshmallow import RAISE, Schema, fields, post_load, validate

from adapter.swr.glob import glob_match

FLATTEN_WORDS = {"all": -1, "none": 0, "1": 1, "2": 2, "3": 3}


def replace_namespace(repository: str, namespace: str, replace_count: int) -> str:
    """Reproduces Harbor's replaceNamespace (src/controller/replication/flow/stage.go)."""
    if not namespace:
        return repository
    components = repository.split("/")
    src_length = len(components)
    if replace_count < 0:
        prefix = namespace
    elif replace_count > src_length - 1:
        raise ValueError(
            f"the source repository {repository!r} contains only {src_length - 1} path components "
            f"{components[:-1]} excepting the last one, but the destination namespace flattening level "
            f"is {replace_count}")
    else:
        prefix = "/".join([namespace, *components[replace_count:src_length - 1]])
    return posixpath.join(prefix, components[-1])


def flatten_count(word) -> int:
    """Maps all|none|1|2|3 to Harbor's dest_namespace_replace_count."""
    key = str(word).lower()
    if key not in FLATTEN_WORDS:
        raise ValueError(f"flatten must be one of all, none, 1, 2, 3 (got {word!r})")
    return FLATTEN_WORDS[key]


@dataclass(frozen=True)
class MappingRule:
    match: str
    namespace: str
    flatten: int = -1

    def apply(self, repository: str) -> str | None:
        if not glob_match(self.match, repository):
            return None
        return replace_namespace(repository, self.namespace, self.flatten)


class MappingRuleSchema(Schema):
    class Meta:
        unknown = RAISE

    match = fields.String(required=True, validate=validate.Length(min=1))
    namespace = fields.String(required=True)
    flatten = fields.String(load_default="all", validate=validate.OneOf(list(FLATTEN_WORDS)))

    @post_load
    def _make(self, data, **_):
        return MappingRule(data["match"], data["namespace"], FLATTEN_WORDS[data["flatten"]])


def map_repository(rules: list[MappingRule], repository: str) -> str:
    """First matching rule wins; identity when nothing matches."""
    for rule in rules:
        dest = rule.apply(repository)
        if dest is not None:
            return dest
    return repository
