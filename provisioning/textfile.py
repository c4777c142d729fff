"""A config file's text, or a reason why there is none: every file swr-bridge reads goes through here."""

from __future__ import annotations

import os
from pathlib import Path


class UnreadableFile(ValueError):
    """The file cannot be read as text; str() says why (`cannot read the file: Is a directory`)."""


def read_text(path: str | os.PathLike) -> str:
    """The file's text as UTF-8 (YAML and JSON are), with a reason instead of an OSError or a
    UnicodeDecodeError traceback when it is missing, a directory, unreadable or not text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UnreadableFile(f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                             "YAML and JSON files are UTF-8") from None
