"""YAML text to data, via libyaml when present, with errors that say where; every file swr-bridge reads."""

from __future__ import annotations

import json

import yaml

# The C loader reads the same safe subset about ten times faster; a short-lived CLI run notices.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# What aliases may add to a document, in nodes: far beyond any file that shares a block with an anchor, far
# below a "billion laughs" (nine anchors of nine aliases each: 387 million nodes from a 400-byte file), which
# every walk over the data (validation, error messages) would take hours and gigabytes to go through.
MAX_ALIAS_NODES = 100_000


class YamlSyntaxError(ValueError):
    """The text is not YAML; str() is a message like `not valid YAML at line 3, column 7: ...`."""


def parse_yaml(text: str):
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
    except yaml.YAMLError:
        pass
    except RecursionError:
        raise YamlSyntaxError("not valid YAML: nested too deeply") from None
    except ValueError as exc:  # a constructor's: a date such as 2026-13-45, an integer past 4300 digits
        raise YamlSyntaxError(f"not valid YAML: a value cannot be read ({str(exc).split(':')[0]})") from None
    else:
        if "&" in text:  # no anchor, no alias: nothing to count
            _check_aliases(data)
        return data
    try:  # the pure-Python parser places a mark at the broken token, libyaml sometimes at the end of input
        yaml.safe_load(text)
    except RecursionError:
        raise YamlSyntaxError("not valid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise YamlSyntaxError(f"not valid YAML{where}" + (f": {problem}" if problem else "")) from None
    raise YamlSyntaxError("not valid YAML")  # only libyaml refused it: no mark to give


def _check_aliases(data) -> None:
    """Refuses a document whose aliases expand it by more than MAX_ALIAS_NODES nodes. An alias loads as the
    same object as its anchor, so each container is walked once, by identity, and its expanded size kept."""
    sizes: dict[int, int | None] = {}  # None: being walked
    written = 0  # the nodes as the file writes them: each container once, with its scalar values

    def size(node) -> int:
        nonlocal written
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes and sizes[id(node)] is None:  # `&a [*a]`: every walk over it would never end
            raise YamlSyntaxError("an alias inside its own anchor: the data would be endless")
        if id(node) not in sizes:
            sizes[id(node)] = None
            children = list(node.values() if isinstance(node, dict) else node)
            written += 1 + sum(not isinstance(child, (dict, list)) for child in children)
            sizes[id(node)] = 1 + sum(size(child) for child in children)
        return sizes[id(node)]

    try:
        total = size(data)
    except RecursionError:
        raise YamlSyntaxError("not valid YAML: nested too deeply") from None
    if total - written > MAX_ALIAS_NODES:
        raise YamlSyntaxError(f"aliases expand the document to {total} nodes, {total - written} of them "
                              f"repeated; at most {MAX_ALIAS_NODES} may be (a YAML bomb?)")


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
        return [(path, elided(f"expected {_EXPECTED[text]}{got}"))]
    return [(path, elided(_PLAINER.get(text, text)))]


def elided(text: str, keep: int = 1000) -> str:
    """A reason cut in its middle when a value quoted in it is huge (a 100 000-character name): its start
    and end say what was wrong, and the error stays a few lines long."""
    if len(text) <= keep:
        return text
    half = keep // 2
    return f"{text[:half]}...({len(text) - 2 * half} characters left out)...{text[-half:]}"
