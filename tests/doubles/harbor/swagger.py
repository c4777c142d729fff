"""Harbor's swagger 2.0 contract turned into jsonschema checks for requests and responses."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, FormatChecker

# The copy of shared/contracts/harbor-v2.0-swagger.yaml (Harbor v2.16.0 main), kept in the repo so the
# double works on a bare checkout; harbor.md §0 records this digest.
SPEC_PATH = Path(__file__).with_name("harbor-v2.0-swagger.yaml")
SPEC_SHA256 = "dea3b3f6cfc225acb569019904218f30032a6fdf4331c86e372bc53198fab840"
BASE_PATH = "/api/v2.0"

_INT_BOUNDS = {"int8": 2**7, "int16": 2**15, "int32": 2**31, "int64": 2**63}
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def to_jsonschema(node: Any) -> Any:
    """A swagger schema object as draft-4 jsonschema.

    go-swagger's x-nullable / x-isnullable become `null` in the type; integer formats become bounds;
    objects with declared properties refuse undeclared ones. That last rule is stricter than Harbor,
    which ignores an unknown field silently -- exactly how `replicate_deletion` mistakes go unnoticed.
    """
    if not isinstance(node, dict):
        return node
    out = {k: v for k, v in node.items() if not k.startswith("x-") and k != "example"}
    if "properties" in out:
        out["properties"] = {name: to_jsonschema(sub) for name, sub in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = to_jsonschema(out[key])
    bound = _INT_BOUNDS.get(out.get("format")) if out.get("type") == "integer" else None
    if bound:
        out.setdefault("minimum", -bound)
        out.setdefault("maximum", bound - 1)
    if node.get("x-nullable") or node.get("x-isnullable"):
        if "$ref" in out:
            out = {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        elif "type" in out:
            out["type"] = [out["type"], "null"]
    return out


def _describe(error: Any) -> str:
    where = "$" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    return f"{where}: {error.message} (schema: {rule})"


class Contract:
    """The parsed spec: operations by (method, path) and validators over its definitions."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.raw_definitions: dict[str, Any] = spec["definitions"]
        self.definitions = {name: to_jsonschema(d) for name, d in self.raw_definitions.items()}
        self._validators: dict[str, Draft4Validator] = {}

    def operation(self, method: str, path: str) -> dict[str, Any]:
        """The swagger operation object, with its parameters' `$ref`s resolved."""
        op = self.spec["paths"][path][method.lower()]
        params = [self.spec["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                  for p in op.get("parameters", [])]
        return {**op, "parameters": params, "produces": op.get("produces", self.spec["produces"])}

    def response(self, op: dict[str, Any], status: int) -> dict[str, Any] | None:
        """The documented response for `status`, `$ref` resolved; None when undocumented."""
        resp = op["responses"].get(str(status))
        if resp and "$ref" in resp:
            resp = self.spec["responses"][resp["$ref"].rsplit("/", 1)[1]]
        return resp

    def validate(self, schema: dict[str, Any], instance: Any) -> list[str]:
        """Every way `instance` breaks the swagger `schema`, as readable lines."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {**to_jsonschema(schema), "definitions": self.definitions}
            self._validators[key] = Draft4Validator(root, format_checker=_FORMATS)
        errors = sorted(self._validators[key].iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [_describe(e) for e in errors]


@lru_cache(maxsize=1)
def contract() -> Contract:
    """The contract, parsed once per process (the YAML is 10k lines)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as fh:
        return Contract(yaml.load(fh, Loader=loader))


# The release that added each field (harbor.md §0). Kept apart from harbor_client's own table on
# purpose: the double is the oracle the client is checked against, not a copy of it.
FIELDS_SINCE: dict[str, dict[str, tuple[int, int]]] = {
    "ReplicationPolicy": {"dest_namespace_replace_count": (2, 3), "speed": (2, 4), "copy_by_chunk": (2, 7),
                          "single_active_replication": (2, 14)},
    "WebhookPolicy": {},
    "WebhookTargetObject": {"payload_format": (2, 8)},
    "Registry": {"ca_certificate": (2, 15)},
    "RegistryUpdate": {"ca_certificate": (2, 15)},
    "RegistryPing": {"ca_certificate": (2, 15)},
}


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def unknown_to(definition: str, harbor_version: str) -> frozenset[str]:
    """The fields of `definition` that a Harbor of `harbor_version` has not got yet."""
    have = _minor(harbor_version)
    return frozenset(name for name, since in FIELDS_SINCE.get(definition, {}).items() if have < since)


def fields_too_new(definition: str, body: dict[str, Any], harbor_version: str) -> list[str]:
    """Fields in `body` that a Harbor of `harbor_version` does not know: it would drop them silently."""
    since = FIELDS_SINCE.get(definition, {})
    problems = [f"body field {name!r} needs Harbor {since[name][0]}.{since[name][1]}, this double plays {harbor_version}"
                for name in sorted(unknown_to(definition, harbor_version) & set(body))]
    if definition == "WebhookPolicy":
        for target in body.get("targets") or []:
            problems += fields_too_new("WebhookTargetObject", target, harbor_version)
    return problems
