"""Output for the CLI: `-o table|json|yaml`, with models turned into plain data and secrets masked."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click
import yaml

FORMATS = ("table", "json", "yaml")
SENSITIVE = "(sensitive)"
SECRET_KEYS = frozenset({"access_secret", "auth_header", "password"})

output_option = click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default="table",
                             show_default=True, help="output format")


def plain(value: Any) -> Any:
    """Models, dates and tuples as JSON-able data; `extra` fields dropped; secrets shown as (sensitive)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.name != "extra"}
    if isinstance(value, Mapping):
        return {str(k): SENSITIVE if k in SECRET_KEYS and isinstance(v, str) and v else plain(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def cell(value: Any) -> str:
    """One table cell: lists comma-joined, None as '-'."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned columns under upper-case headers; an empty list prints the headers only."""
    grid = [[c.upper() for c in columns]] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in grid)


def details(record: Mapping[str, Any]) -> str:
    """One object as `key: value` lines (nested data as compact JSON)."""
    width = max((len(k) for k in record), default=0)
    lines = []
    for key, value in record.items():
        nested = isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))
        shown = json.dumps(value) if nested else cell(value)
        lines.append(f"{key.ljust(width)}  {shown}")
    return "\n".join(lines)


def dumps(data: Any, fmt: str) -> str:
    """`data` as JSON or YAML text."""
    if fmt == "json":
        return json.dumps(plain(data), indent=2)
    return yaml.safe_dump(plain(data), sort_keys=False, allow_unicode=True).rstrip()


def emit(data: Any, fmt: str, render_table: Any = None) -> None:
    """Print `data` as JSON/YAML, or for `table` whatever `render_table()` returns (default: details/table)."""
    if fmt != "table":
        click.echo(dumps(data, fmt))
        return
    text = render_table() if render_table else details(plain(data))
    if text:
        click.echo(text)


def emit_list(items: Sequence[Any], fmt: str, columns: Sequence[str]) -> None:
    """A list of models: a table of `columns`, or every field as JSON/YAML."""
    rows = [plain(i) for i in items]
    emit(rows, fmt, lambda: table(rows, columns))
