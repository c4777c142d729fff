"""What can go wrong in a sync, as a small tree.

    SyncError
    ├── InputError      bad files, flags or references: exit 2, before anything is copied
    └── CopyError       one image, blob or manifest could not be copied; `retryable` says whether
                        trying again may help (resets, timeouts, 5xx, 429) or not (denied, invalid)
"""

from __future__ import annotations


class SyncError(Exception):
    """Anything `swr-bridge sync` or `copy` reports."""


class InputError(SyncError):
    """Bad input; `where` names the file, key or flag (e.g. "images.yaml: key 'a/b:/[/'")."""

    def __init__(self, where: str, reason: str):
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}" if where else reason)


class Leniency:
    """What image-syncer accepts and we would rather not: a warning, once per `key`, or with `strict`
    (--strict) the InputError it would otherwise be. The warnings are printed before the run starts."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.warnings: list[str] = []
        self._keys: set = set()

    def allow(self, where: str, refusal: str, warning: str, key=None) -> None:
        """Refuses (`refusal`, under --strict) or records `warning` once for `key` (default: the text)."""
        if self.strict:
            raise InputError(where, f"{refusal} (refused under --strict)")
        self.warn(f"{where}: {warning}" if where else warning, key)

    def warn(self, text: str, key=None) -> None:
        key = text if key is None else key
        if key not in self._keys:
            self._keys.add(key)
            self.warnings.append(text)


class CopyError(SyncError):
    """`code` is the registry's error code when a registry refused the call (e.g. MANIFEST_INVALID)."""

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None):
        super().__init__(message)
        self.retryable, self.code = retryable, code


def describe(exc: BaseException) -> str:
    """A one-line reason for a report, with the cause of a connection failure when there is one."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(exc, SyncError):
        detail = str(cause).split("(Caused by ")[-1].rstrip(")") or type(cause).__name__
        if detail and detail not in text:
            text = f"{text} ({detail[:200]})"
    return text
