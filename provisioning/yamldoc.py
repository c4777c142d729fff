"""YAML text to data, via libyaml when present, with errors that say where; every file swr-bridge reads."""

from __future__ import annotations

import json

import yaml

# The C loader reads the same safe subset about ten times faster; a short-lived CLI run notices.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(ValueError):
    """The text is not YAML; str() is a message like `not valid YAML at line 3, column 7: ...`."""


def parse_yaml(text: str):
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
    except yaml.YAMLError:
        pass
    try:  # the pure-Python parser places a mark at the broken token, libyaml sometimes at the end of input
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise YamlSyntaxError(f"not valid YAML{where}" + (f": {problem}" if problem else "")) from None
    raise YamlSyntaxError("not valid YAML")  # only libyaml refused it: no mark to give


# marshmallow's messages, said plainly; the type errors also show the value that was given.
_PLAINER = {"Unknown field.": "unknown key", "Missing data for required field.": "required key is missing",
            "Field may not be null.": "may not be empty (null)"}
_EXPECTED = {"Not a valid string.": "a string", "Not a valid integer.": "an integer", "Not a valid number.": "a number",
             "Not a valid boolean.": "true or false", "Not a valid list.": "a list", "Invalid input type.": "a mapping",
             "Not a valid mapping type.": "a mapping", "Not a valid URL.": "a URL such as https://host[:port]"}
_MISSING = object()


def shown(value) -> str:
    """A value as the user wrote it, for "expected X, got Y" (8080, "eu-dee", null, [1, 2])."""
    return json.dumps(value, default=str, ensure_ascii=False)


def _child(data, key):
    if isinstance(data, dict):
        return data.get(key, _MISSING)
    if isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
        return data[key]
    return _MISSING


def problems(messages, data=_MISSING, path: str = "", brackets: bool = False) -> list[tuple[str, str]]:
    """Every (key path, reason) in marshmallow's nested messages, in order; `data` (what was validated) lets
    a type error say what it got. Indices are `rules[0]` with `brackets`, else `mapping.0`."""
    if isinstance(messages, dict):
        out = []
        for key, sub in messages.items():
            if key == "_schema":
                step = path
            elif isinstance(key, int) and brackets:
                step = f"{path}[{key}]"
            else:
                step = f"{path}.{key}" if path else str(key)
            out += problems(sub, data if key == "_schema" else _child(data, key), step, brackets)
        return out
    if isinstance(messages, list):
        return [pair for item in messages for pair in problems(item, data, path, brackets)]
    text = str(messages)
    if text in _EXPECTED:
        got = "" if data is _MISSING else f", got {shown(data)}"
        return [(path, f"expected {_EXPECTED[text]}{got}")]
    return [(path, _PLAINER.get(text, text))]
