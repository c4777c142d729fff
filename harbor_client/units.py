"""The project's units, written once: rates (bytes/s, Harbor's Kibit/s), flatten words, Retry-After seconds,
and the base URLs settings name."""

from __future__ import annotations

import math
import re
import time
from datetime import timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, urlsplit

UNLIMITED = "unlimited"
# What we send for "unlimited": the portal's -1; the API clamps every negative to 0, and 0 means no limit.
UNLIMITED_SPEED = -1
_UNLIMITED_WORDS = (UNLIMITED, "0", "-1")

# Bits per second for one unit. Harbor limits each blob stream to speed x 128 bytes/s (harbor.md §2.7),
# so speed is in Kibit/s. SI prefixes are powers of 1000, IEC prefixes (Ki, Mi, Gi) powers of 1024.
_BITS_PER_SECOND: dict[str, int] = {
    "B/s": 8, "kB/s": 8_000, "KB/s": 8_000, "MB/s": 8_000_000, "GB/s": 8_000_000_000,
    "KiB/s": 8 * 1024, "MiB/s": 8 * 1024**2, "GiB/s": 8 * 1024**3,
    "bit/s": 1, "kbit/s": 1_000, "Kbit/s": 1_000, "Mbit/s": 1_000_000, "Gbit/s": 1_000_000_000,
    "Kibit/s": 1024, "Mibit/s": 1024**2, "Gibit/s": 1024**3,
}
_KIBIT = 1024
MAX_SPEED = 2**31 - 1  # Harbor stores speed as an int32 of Kibit/s (harbor.md §2.7): about 256 GiB/s
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*/\s*s\s*$")
# The prefix may be written in any case ("mbit/s", "GIB/s"), the quantity may not: "B" is bytes and
# "bit" bits, and a lone "b" ("10Mb/s") is refused rather than guessed.
_BY_FOLDED = {unit.lower(): unit for unit in _BITS_PER_SECOND}

BANDWIDTH_FORMS = (
    f"'{UNLIMITED}' (or 0 / -1), or a positive number with one of the units "
    + ", ".join(_BITS_PER_SECOND) + " (e.g. 10MiB/s, 500KB/s, 800Kbit/s)"
)


def _bandwidth_error(text: object, why: str) -> ValueError:
    return ValueError(f"invalid bandwidth {text!r}: {why}; accepted: {BANDWIDTH_FORMS}")


def _unit(unit: str) -> str | None:
    if unit in _BITS_PER_SECOND:
        return unit
    if unit.lower().endswith("bit/s") or unit.endswith("B/s"):
        folded = _BY_FOLDED.get(unit.lower())
        return folded if folded and folded.endswith("bit/s") == unit.lower().endswith("bit/s") else None
    return None


def bits_per_second(text: str) -> Decimal:
    """A positive rate with its unit -> bits per second; ValueError (naming the accepted forms) otherwise."""
    if not isinstance(text, str):
        raise _bandwidth_error(text, "not a string")
    match = _RATE_RE.match(text)
    if not match:
        raise _bandwidth_error(text, "not a number followed by a unit")
    number, unit = match.group(1), _unit(match.group(2) + "/s")
    if unit is None:
        raise _bandwidth_error(text, f"unknown unit {match.group(2) + '/s'!r} (B is bytes, bit is bits)")
    bits = Decimal(number) * _BITS_PER_SECOND[unit]
    if bits <= 0:
        raise _bandwidth_error(text, f"a zero rate; write '{UNLIMITED}' for no limit")
    if bits < 8:  # a budget under a byte a second would never let a transfer finish
        raise _bandwidth_error(text, "under 1 B/s")
    if bits > MAX_SPEED * _KIBIT:
        raise _bandwidth_error(text, f"over {MAX_SPEED} Kibit/s, the most Harbor's speed (an int32) holds")
    return bits


def parse_rate(text) -> float | None:
    """`50MiB/s`, `500KB/s`, `800Kbit/s` -> bytes per second; `unlimited` (or 0 / -1) -> None (the budgets)."""
    if str(text).strip().lower() in _UNLIMITED_WORDS:
        return None
    return float(bits_per_second(text) / 8)


def bandwidth_to_speed(text: str) -> int:
    """`"10MiB/s"` -> 81920: the Kibit/s value for Harbor's `speed`; `"unlimited"` -> -1.

    Rates that are not whole Kibit/s round down, so the limit never exceeds what was asked for, but
    never to 0, because Harbor reads 0 as "no limit".
    """
    if isinstance(text, str) and text.strip().lower() in _UNLIMITED_WORDS:
        return UNLIMITED_SPEED
    return max(1, math.floor(bits_per_second(text) / _KIBIT))


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
FLATTEN_FORMS = ", ".join(_FLATTEN_TO_COUNT) + " (all = Flatten All Levels, none = No Flattening)"


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


def isotime(epoch: float, millis: bool = False) -> str:
    """A Unix time as RFC 3339 UTC: `2026-12-04T20:30:00Z`, with `millis` `2026-12-04T20:30:00.123Z`."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return text + (f".{int(epoch % 1 * 1000):03d}Z" if millis else "Z")


_SECONDS_RE = re.compile(r"^\d+(?:\.\d+)?$")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait: delta-seconds or an HTTP date (past: 0); None when absent
    or unreadable.

    RFC 9110 writes delta-seconds as digits only; a decimal such as `1.5` is read as 1.5 seconds all the
    same (SWR's gateway and other servers send them), while signs, exponents, `inf` and `nan` are unreadable.
    """
    value = (value or "").strip()
    if _SECONDS_RE.match(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --- base URLs ---------------------------------------------------------------------------------------
def split_url(text: str) -> SplitResult | None:
    """`text` split as urllib does, or None when it cannot be: a port that is no number from 0 to 65535
    (urllib raises only when the port is asked for, and requests then with a traceback)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - the check itself
    except ValueError:
        return None
    return parts


def http_url_problem(text: str) -> str | None:
    """What keeps `text` from being an http(s)://host[:port] base URL without a password: "form" or
    "password" (a URL is printed in error lines, and a password in it with it); None when it is one."""
    parts = split_url(text)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        return "form"
    return "password" if parts.password is not None else None
