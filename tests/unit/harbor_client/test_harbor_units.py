"""Bandwidth strings <-> speed (Kibit/s) and flatten words <-> dest_namespace_replace_count."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbor_client.units import (
    bandwidth_to_speed,
    count_to_flatten,
    flatten_to_count,
    isotime,
    parse_rate,
    retry_after,
    speed_to_bandwidth,
)

BANDWIDTH = [
    # text, speed in Kibit/s (x 128 bytes/s in Harbor's throttle)
    ("10MiB/s", 81920),
    ("1MiB/s", 8192),
    ("1KiB/s", 8),
    ("1GiB/s", 8 * 1024 * 1024),
    ("800Kibit/s", 800),
    ("1Mibit/s", 1024),
    ("128B/s", 1),
    ("2.5MiB/s", 20480),
    (" 10 MiB/s ", 81920),
    ("unlimited", -1),
    ("UNLIMITED", -1),
    ("0", -1),
    ("-1", -1),
]
ROUNDING = [
    # SI units are not whole Kibit/s: rounded down, never above the asked-for rate ...
    ("500KB/s", 3906),  # 500 000 B/s = 3906.25 Kibit/s
    ("800Kbit/s", 781),  # 800 000 bit/s = 781.25 Kibit/s
    ("1MB/s", 7812),  # 7812.5
    ("1Gbit/s", 976562),  # 976562.5
    ("1023bit/s", 1),  # ... and never down to 0, which Harbor reads as "no limit"
    ("1B/s", 1),
    ("0.1KiB/s", 1),  # 0.8 Kibit/s
]
INVALID = ["", "fast", "10", "10MiB", "10 MiBps", "10mib/s", "10Mbps", "-5MiB/s", "0MiB/s", "1e3KB/s", "MiB/s", "10 TiB/s"]


@pytest.mark.parametrize(("text", "speed"), BANDWIDTH + ROUNDING)
def test_bandwidth_to_speed(text, speed):
    assert bandwidth_to_speed(text) == speed


@pytest.mark.parametrize("text", INVALID)
def test_invalid_bandwidth_lists_the_accepted_forms(text):
    with pytest.raises(ValueError) as err:
        bandwidth_to_speed(text)
    message = str(err.value)
    assert repr(text) in message
    for form in ("unlimited", "MiB/s", "KB/s", "Kbit/s", "Kibit/s"):
        assert form in message


def test_non_string_bandwidth_is_refused():
    with pytest.raises(ValueError, match="not a string"):
        bandwidth_to_speed(1024)


@pytest.mark.parametrize(("speed", "text"), [
    (81920, "10MiB/s"), (8192, "1MiB/s"), (8 * 1024 * 1024, "1GiB/s"), (8, "1KiB/s"), (24, "3KiB/s"),
    (781, "781Kibit/s"), (1, "1Kibit/s"), (1000, "125KiB/s"),
    (-1, "unlimited"), (0, "unlimited"), (-7, "unlimited"), (None, "unlimited"),
])
def test_speed_to_bandwidth(speed, text):
    assert speed_to_bandwidth(speed) == text


@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_speed_round_trips_exactly(speed):
    assert bandwidth_to_speed(speed_to_bandwidth(speed)) == speed


@pytest.mark.parametrize(("word", "count"), [
    ("all", -1), ("none", 0), ("1", 1), ("2", 2), ("3", 3), ("ALL", -1), (" none ", 0), (2, 2),
])
def test_flatten_to_count(word, count):
    assert flatten_to_count(word) == count


@pytest.mark.parametrize("word", ["", "4", "0", "-1", "every", "one", "1.0", None, True])
def test_invalid_flatten_lists_the_accepted_forms(word):
    with pytest.raises(ValueError) as err:
        flatten_to_count(word)
    assert "all, none, 1, 2, 3" in str(err.value)


@pytest.mark.parametrize(("count", "word"), [
    (-1, "all"), (-5, "all"), (None, "all"), (0, "none"), (1, "1"), (2, "2"), (3, "3"),
])
def test_count_to_flatten(count, word):
    assert count_to_flatten(count) == word


@pytest.mark.parametrize("word", ["all", "none", "1", "2", "3"])
def test_flatten_round_trips(word):
    assert count_to_flatten(flatten_to_count(word)) == word


# --- one parser for every rate the project reads ---------------------------------------------------
@pytest.mark.parametrize(("text", "bytes_per_second"), [
    ("50MiB/s", 50 * 1024**2), ("500KB/s", 500_000), ("800Kbit/s", 100_000), ("1.5 GiB / s", 1.5 * 1024**3),
    ("10mbit/s", 1_250_000), ("10MIB/s", 10 * 1024**2), ("1B/s", 1), ("unlimited", None), (" Unlimited ", None),
])
def test_parse_rate_reads_the_same_units_as_harbor_speed(text, bytes_per_second):
    assert parse_rate(text) == bytes_per_second
    if bytes_per_second is not None and bytes_per_second >= 128:
        assert bandwidth_to_speed(text) == int(bytes_per_second // 128)  # Harbor throttles at speed x 128 B/s


@pytest.mark.parametrize("text", ["10Mb/s", "10mb/s", "10mib/s", "10 Kb / s"])
def test_a_lone_lowercase_b_is_refused_not_guessed(text):
    for parse in (parse_rate, bandwidth_to_speed):
        with pytest.raises(ValueError, match="B is bytes, bit is bits"):
            parse(text)


# --- Retry-After --------------------------------------------------------------------------------------
NOW = 1_700_000_000.0


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("0.25", 0.25), (" 120 ", 120.0),
    (format_datetime(datetime.fromtimestamp(NOW + 30, timezone.utc), usegmt=True), 30.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: now
    (None, None), ("", None), ("soon", None), ("-1", None), ("1e3", None), ("inf", None), ("nan", None),
])
def test_retry_after_reads_seconds_decimals_and_http_dates(value, seconds):
    assert retry_after(value, now=NOW) == seconds


def test_isotime_with_and_without_millis():
    assert isotime(0) == "1970-01-01T00:00:00Z"
    assert isotime(1.5, millis=True) == "1970-01-01T00:00:01.500Z"
