"""Checks one request against its swagger operation: path, query and header parameters, and the body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.harbor.swagger import Contract

_SCHEMA_KEYS = ("type", "format", "minimum", "maximum", "minLength", "maxLength", "enum", "pattern", "items")
_TRUE, _FALSE = {"1", "t", "true"}, {"0", "f", "false"}  # Go's strconv.ParseBool, case-folded


@dataclass
class CheckedRequest:
    """The request's parameters converted to their swagger types (defaults filled in), and problems found."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    problems: list[str] = field(default_factory=list)


def _coerce(param: dict[str, Any], raw: str) -> Any:
    kind = param.get("type")
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError(f"{raw!r} is not a boolean")
    if kind == "array":
        return raw.split(",")
    return raw


def _check_param(contract: Contract, param: dict[str, Any], raw: str, checked: CheckedRequest) -> Any:
    label = f"{param['in']} parameter {param['name']}"
    try:
        value = _coerce(param, raw)
    except ValueError:
        checked.problems.append(f"{label}: {raw!r} is not of type {param.get('type')}")
        return None
    schema = {k: param[k] for k in _SCHEMA_KEYS if k in param}
    checked.problems.extend(f"{label}: {p}" for p in contract.validate(schema, value))
    return value


def _check_body(contract: Contract, param: dict[str, Any] | None, raw: bytes, content_type: str,
                checked: CheckedRequest) -> None:
    if param is None:
        if raw:
            checked.problems.append("body: this operation takes no body")
        return
    if not raw:
        if param.get("required"):
            checked.problems.append(f"body: the {param['name']!r} body is required")
        return
    if content_type.split(";")[0].strip() != "application/json":
        checked.problems.append(f"body: Content-Type {content_type!r} is not application/json")
        return
    try:
        checked.body = json.loads(raw)
    except ValueError as exc:
        checked.problems.append(f"body: not JSON ({exc})")
        return
    checked.problems.extend(f"body {p}" for p in contract.validate(param["schema"], checked.body))


def check_request(contract: Contract, op: dict[str, Any], *, path: dict[str, str], query: Any,
                  headers: Any, body: bytes, content_type: str) -> CheckedRequest:
    """Validate every part of one request; `query` is a MultiDict, `headers` case-insensitive."""
    checked = CheckedRequest()
    params = op["parameters"]
    declared_query = {p["name"] for p in params if p["in"] == "query"}
    for name in query:
        if name not in declared_query:
            checked.problems.append(f"query parameter {name}: not a parameter of this operation")
    for param in params:
        name, where = param["name"], param["in"]
        if where == "path":
            checked.path[name] = _check_param(contract, param, path[name], checked)
        elif where == "query" and name in query:
            if len(query.getlist(name)) > 1:
                checked.problems.append(f"query parameter {name}: given more than once")
            checked.query[name] = _check_param(contract, param, query[name], checked)
        elif where == "query" and "default" in param:
            checked.query[name] = param["default"]
        elif where == "header" and name in headers:
            checked.headers[name] = _check_param(contract, param, headers[name], checked)
        elif param.get("required") and where in ("query", "header"):
            checked.problems.append(f"{where} parameter {name}: required")
    _check_body(contract, next((p for p in params if p["in"] == "body"), None), body, content_type, checked)
    return checked
