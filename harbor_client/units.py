"""Human units for Harbor's `speed` (Kibit/s) and `dest_namespace_replace_count` (flatten words)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

UNLIMITED = "unlimited"
# What we send for "unlimited": the portal's -1; the API clamps every negative to 0, and 0 means no limit.
UNLIMITED_SPEED = -1

# Bits per second for one unit. Harbor limits each blob stream to speed x 128 bytes/s (harbor.md §2.7),
# so speed is in Kibit/s. SI prefixes are powers of 1000, IEC prefixes (Ki, Mi, Gi) powers of 1024.
_BITS_PER_SECOND: dict[str, int] = {
    "B/s": 8, "kB/s": 8_000, "KB/s": 8_000, "MB/s": 8_000_000, "GB/s": 8_000_000_000,
    "KiB/s": 8 * 1024, "MiB/s": 8 * 1024**2, "GiB/s": 8 * 1024**3,
    "bit/s": 1, "kbit/s": 1_000, "Kbit/s": 1_000, "Mbit/s": 1_000_000, "Gbit/s": 1_000_000_000,
    "Kibit/s": 1024, "Mibit/s": 1024**2, "Gibit/s": 1024**3,
}
_KIBIT = 1024
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+/s)\s*$")

BANDWIDTH_FORMS = (
    f"'{UNLIMITED}' (or 0 / -1), or a positive number with one of the units "
    + ", ".join(_BITS_PER_SECOND) + " (e.g. 10MiB/s, 500KB/s, 800Kbit/s)"
)


def _bandwidth_error(text: object, why: str) -> ValueError:
    return ValueError(f"invalid bandwidth {text!r}: {why}; accepted: {BANDWIDTH_FORMS}")


def bandwidth_to_speed(text: str) -> int:
    """`"10MiB/s"` -> 81920: the Kibit/s value for Harbor's `speed`; `"unlimited"` -> -1.

    Rates that are not whole Kibit/s round down, so the limit never exceeds what was asked for, but
    never to 0, because Harbor reads 0 as "no limit".
    """
    if not isinstance(text, str):
        raise _bandwidth_error(text, "not a string")
    if text.strip().lower() in (UNLIMITED, "0", "-1"):
        return UNLIMITED_SPEED
    match = _RATE_RE.match(text)
    if not match:
        raise _bandwidth_error(text, "not a number followed by a unit")
    number, unit = match.groups()
    if unit not in _BITS_PER_SECOND:
        raise _bandwidth_error(text, f"unknown unit {unit!r} (units are case-sensitive: B is bytes, bit is bits)")
    try:
        bits = Decimal(number) * _BITS_PER_SECOND[unit]
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets decimals through
        raise _bandwidth_error(text, "not a number") from exc
    if bits <= 0:
        raise _bandwidth_error(text, f"a zero rate; write '{UNLIMITED}' for no limit")
    return max(1, math.floor(bits / _KIBIT))


def speed_to_bandwidth(speed: int | None) -> str:
    """Harbor's `speed` -> the shortest exact string: 81920 -> "10MiB/s", 781 -> "781Kibit/s".

    0, negative and absent all mean unlimited (Harbor only throttles when speed > 0).
    """
    if speed is None or speed <= 0:
        return UNLIMITED
    for unit, per in (("GiB/s", 8 * 1024**2), ("MiB/s", 8 * 1024), ("KiB/s", 8)):
        if speed % per == 0:
            return f"{speed // per}{unit}"
    return f"{speed}Kibit/s"


_FLATTEN_TO_COUNT = {"all": -1, "none": 0, "1": 1, "2": 2, "3": 3}
FLATTEN_FORMS = ", ".join(f"'{w}'" for w in _FLATTEN_TO_COUNT) + " (all = Flatten All Levels, none = No Flattening)"


def flatten_to_count(word: str | int) -> int:
    """`"all"` -> -1, `"none"` -> 0, `"1"`..`"3"` -> 1..3, for `dest_namespace_replace_count`."""
    # str(None) would read as "none" (No Flattening): only strings and ints are words.
    key = str(word).strip().lower() if isinstance(word, (str, int)) and not isinstance(word, bool) else None
    if key not in _FLATTEN_TO_COUNT:
        raise ValueError(f"invalid flatten value {word!r}; accepted: {FLATTEN_FORMS}")
    return _FLATTEN_TO_COUNT[key]


def count_to_flatten(count: int | None) -> str:
    """`dest_namespace_replace_count` -> flatten word; absent or negative is Harbor's legacy "all"."""
    if count is None or count < 0:
        return "all"
    return "none" if count == 0 else str(count)
