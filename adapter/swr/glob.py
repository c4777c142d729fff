"""Doublestar glob matching, as Harbor's filters do it (bmatcuk/doublestar v1)."""

from __future__ import annotations

import fnmatch


def glob_match(pattern: str, name: str) -> bool:
    # Provisional: replaced by a full doublestar translation.
    if pattern == "" or pattern == "**":
        return True
    return fnmatch.fnmatchcase(name, pattern)
