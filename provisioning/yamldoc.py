"""YAML text to data, via libyaml when present, with errors that say where; every file swr-bridge reads."""

from __future__ import annotations

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
