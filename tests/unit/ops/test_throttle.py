"""The bandwidth budget in one process: rates, the config schema, windows, per-organization limits,
the virtual-time scheduler (on an injected clock) and its fairness."""

import gc
import heapq
import os
import threading
import time
from datetime import datetime, timezone

import pytest
from marshmallow import ValidationError

from adapter.config import ConfigError, load_data
from adapter.throttle import (
    BURST,
    MAX_ORGANIZATIONS,
    QUANTUM,
    BandwidthPolicy,
    BandwidthSchema,
    Budget,
    SharedClock,
    Window,
    parse_rate,
)

MIB = 1024 * 1024
MONDAY = datetime(2026, 11, 23, tzinfo=timezone.utc)  # a Monday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY.replace(day=MONDAY.day + day, hour=hour, minute=minute)


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self):
        self.now, self.slept = 1000.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake(tmp_path):
    fake = FakeTime()
    clock = SharedClock(str(tmp_path / "budget"), now=fake)
    yield fake, clock
    clock.close()


def budget(fake_and_clock, utc=MONDAY, **policy):
    fake, clock = fake_and_clock
    waits = []
    b = Budget(BandwidthSchema().load(policy), clock, utcnow=lambda: utc, sleep=fake.sleep,
               on_wait=lambda s, limit: waits.append((s, limit)))
    return b, waits


# --- rates ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("50MiB/s", 50 * MIB), ("500KB/s", 500_000), ("800Kbit/s", 100_000), ("1.5 GiB / s", 1.5 * 1024**3),
    ("10mbit/s", 1_250_000), ("1B/s", 1), ("unlimited", None), (" Unlimited ", None),
])
def test_parse_rate_reads_units(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["50MiB", "50 MiB/min", "0MiB/s", "-1MiB/s", "fast", "", "50XB/s", "1e3B/s"])
def test_parse_rate_refuses_what_is_not_a_rate(text):
    with pytest.raises(ValueError, match="invalid bandwidth"):
        parse_rate(text)


# --- config -----------------------------------------------------------------------------------
def test_the_issue_example_loads():
    policy = BandwidthSchema().load({
        "limit": "50MiB/s",
        "windows": [{"days": "mon-fri", "hours": "08:00-18:00", "limit": "10MiB/s"}],
        "per_organization": {"dev-container": "20MiB/s"},
    })
    assert policy.limit == 50 * MIB
    assert policy.windows == (Window(frozenset(range(5)), 8 * 60, 18 * 60, 10 * MIB),)
    assert policy.per_organization == {"dev-container": 20 * MIB}


def test_unlimited_is_the_default():
    policy = load_data({}).bandwidth
    assert policy == BandwidthPolicy()
    assert Budget(policy).meter("any") is None


@pytest.mark.parametrize("bandwidth, key, reason", [
    ({"limit": "fast"}, "bandwidth.limit", "invalid bandwidth"),
    ({"limt": "1MiB/s"}, "bandwidth.limt", "Unknown field"),
    ({"windows": [{"days": "mon-fri", "hours": "08:00-18:00"}]}, "bandwidth.windows.0.limit", "required"),
    ({"windows": [{"days": "weekdays", "limit": "1MiB/s"}]}, "bandwidth.windows.0", "days 'weekdays'"),
    ({"windows": [{"hours": "8-18", "limit": "1MiB/s"}]}, "bandwidth.windows.0", "must look like 08:00-18:00"),
    ({"windows": [{"hours": "08:00-24:30", "limit": "1MiB/s"}]}, "bandwidth.windows.0", "not a valid time range"),
    ({"windows": [{"hours": "08:60-09:00", "limit": "1MiB/s"}]}, "bandwidth.windows.0", "not a valid time range"),
    ({"windows": [{"hours": "08:00-08:00", "limit": "1MiB/s"}]}, "bandwidth.windows.0", "empty window"),
    ({"windows": [{"hours": "24:00-06:00", "limit": "1MiB/s"}]}, "bandwidth.windows.0", "empty window"),
    ({"windows": [{"limit": "1MiB/s", "speed": 3}]}, "bandwidth.windows.0.speed", "Unknown field"),
    ({"per_organization": {"": "1MiB/s"}}, "bandwidth.per_organization", "must not be empty"),
    ({"per_organization": {"org": "1MiB"}}, "bandwidth.per_organization", "invalid bandwidth"),
    ({"per_organization": {f"o{i}": "1MiB/s" for i in range(MAX_ORGANIZATIONS + 1)}},
     "bandwidth.per_organization", f"at most {MAX_ORGANIZATIONS}"),
])
def test_config_errors_name_the_key_and_the_reason(bandwidth, key, reason):
    with pytest.raises(ConfigError) as info:
        load_data({"bandwidth": bandwidth}, "swr-bridge.yaml")
    assert info.value.key_path.startswith(key)
    assert reason in info.value.reason


def test_day_lists_ranges_and_wrapping_ranges():
    load = BandwidthSchema().load
    assert load({"windows": [{"days": "sat,sun", "limit": "1B/s"}]}).windows[0].days == {5, 6}
    assert load({"windows": [{"days": "fri - mon", "limit": "1B/s"}]}).windows[0].days == {4, 5, 6, 0}
    assert load({"windows": [{"days": "Mon-Wed, sun", "limit": "1B/s"}]}).windows[0].days == {0, 1, 2, 6}


# --- windows ----------------------------------------------------------------------------------
def test_a_daytime_window_covers_its_days_and_hours_only():
    window = Window(frozenset(range(5)), 8 * 60, 18 * 60, 1.0)
    assert window.covers(at(0, 8))
    assert window.covers(at(4, 17, 59))
    assert not window.covers(at(0, 7, 59))
    assert not window.covers(at(0, 18))  # the end is exclusive
    assert not window.covers(at(5, 10))  # Saturday


def test_an_overnight_window_belongs_to_the_day_it_starts_on():
    friday_night = Window(frozenset({4}), 22 * 60, 6 * 60, 1.0)
    assert friday_night.covers(at(4, 23))
    assert friday_night.covers(at(5, 5, 59))  # early Saturday is still Friday's night
    assert not friday_night.covers(at(5, 6))
    assert not friday_night.covers(at(4, 3))  # early Friday belongs to Thursday's night
    assert not friday_night.covers(at(5, 23))
    sunday_night = Window(frozenset({6}), 22 * 60, 6 * 60, 1.0)
    assert sunday_night.covers(at(7, 1))  # into the next week's Monday


def test_the_whole_day_window():
    whole = BandwidthSchema().load({"windows": [{"days": "sun", "limit": "1B/s"}]}).windows[0]
    assert whole.covers(at(6, 0)) and whole.covers(at(6, 23, 59))
    assert not whole.covers(at(0, 0))


def test_the_first_matching_window_sets_the_rate_else_the_limit():
    policy = BandwidthSchema().load({"limit": "50MiB/s", "windows": [
        {"days": "mon-fri", "hours": "08:00-18:00", "limit": "10MiB/s"},
        {"days": "mon-sun", "hours": "00:00-24:00", "limit": "unlimited"}]})
    assert policy.rate_at(at(0, 9)) == 10 * MIB
    assert policy.rate_at(at(5, 9)) is None  # the second window: unlimited at weekends
    assert BandwidthSchema().load({"limit": "50MiB/s"}).rate_at(at(0, 9)) == 50 * MIB


# --- the scheduler on a fake clock ------------------------------------------------------------
def test_one_transfer_flows_at_the_limit(fake):
    b, waits = budget(fake, limit="1MiB/s")
    clock_time = fake[0]
    start = clock_time()
    b.meter("org")(10 * MIB)
    # The first BURST seconds' worth goes at once; every later quantum waits its turn.
    assert clock_time() - start == pytest.approx((10 * MIB - QUANTUM) / MIB - BURST)
    assert sum(s for s, _ in waits) == pytest.approx(clock_time() - start)
    assert {limit for _, limit in waits} == {"instance"}


def test_an_idle_link_keeps_no_more_than_the_burst(fake):
    b, _ = budget(fake, limit="1MiB/s")
    fake_time = fake[0]
    b.acquire(QUANTUM)
    fake_time.now += 3600  # an hour idle allows BURST seconds' worth at once, not an hour's
    t0 = fake_time.now
    b.meter(None)(8 * QUANTUM)
    assert fake_time.now - t0 == pytest.approx(7 * QUANTUM / MIB - BURST)


def test_a_stall_is_caught_up_once_and_never_beyond_the_burst(fake):
    b, _ = budget(fake, limit="64MiB/s")
    fake_time = fake[0]
    quantum = QUANTUM / (64 * MIB)  # seconds of link per booking
    throttle = b.meter(None)
    throttle(16 * MIB)  # backlogged: the link is booked up to about now
    fake_time.now += 0.05  # every transfer stalls for 50 ms
    t0 = fake_time.now
    throttle(2 * QUANTUM)
    assert fake_time.now == t0  # the missed link time is used at once
    throttle(2 * QUANTUM)
    assert fake_time.now - t0 == pytest.approx(2 * quantum)  # then the transfer waits its turn again
    fake_time.now += 60  # a long stall: at most BURST of it comes back
    t1 = fake_time.now
    throttle(32 * MIB)
    assert fake_time.now - t1 >= (32 * MIB - QUANTUM) / (64 * MIB) - BURST


def test_an_organization_limit_holds_below_the_instance_limit(fake):
    b, waits = budget(fake, limit="100MiB/s", per_organization={"slow": "1MiB/s"})
    fake_time = fake[0]
    t0 = fake_time.now
    b.meter("slow")(4 * MIB)
    assert fake_time.now - t0 == pytest.approx((4 * MIB - QUANTUM) / MIB - BURST)
    assert {limit for _, limit in waits} == {"organization"}
    t1 = fake_time.now
    b.meter("other")(4 * MIB)  # other organizations only see the instance limit
    assert fake_time.now - t1 == pytest.approx(4 * MIB / (100 * MIB), abs=0.05)


def test_an_organization_limit_alone_leaves_others_unthrottled(fake):
    b, waits = budget(fake, per_organization={"slow": "1MiB/s"})
    fake_time = fake[0]
    t0 = fake_time.now
    b.meter("fast")(64 * MIB)
    assert fake_time.now == t0 and waits == []
    b.meter("slow")(2 * MIB)
    assert fake_time.now - t0 == pytest.approx((2 * MIB - QUANTUM) / MIB - BURST)


def test_inside_a_window_its_limit_applies(fake):
    window = {"days": "mon-fri", "hours": "08:00-18:00", "limit": "1MiB/s"}
    inside, _ = budget(fake, utc=at(0, 9), limit="2MiB/s", windows=[window])
    fake_time = fake[0]
    t0 = fake_time.now
    inside.meter(None)(4 * MIB)
    assert fake_time.now - t0 == pytest.approx((4 * MIB - QUANTUM) / MIB - BURST)
    fake_time.now += 100
    outside, _ = budget(fake, utc=at(0, 19), limit="2MiB/s", windows=[window])
    t1 = fake_time.now
    outside.meter(None)(8 * MIB)
    assert fake_time.now - t1 == pytest.approx((8 * MIB - QUANTUM) / (2 * MIB) - BURST)


def test_a_window_can_lift_the_limit(fake):
    b, waits = budget(fake, utc=at(6, 3), limit="1MiB/s",
                      windows=[{"days": "sat-sun", "limit": "unlimited"}])
    b.meter(None)(64 * MIB)
    assert waits == []


def test_fair_shares_between_backlogged_transfers(fake):
    """A discrete-event run of 4 transfers on the fake clock: each wakes at its granted start and
    books its next quantum; over 60 s of virtual time each gets a quarter of the link."""
    fake_time, clock = fake
    rate = 32 * MIB
    queue = [(fake_time.now, i) for i in range(4)]
    granted = [0] * 4
    horizon = fake_time.now + 60
    while queue:
        when, i = heapq.heappop(queue)
        if when >= horizon:
            continue
        fake_time.now = when
        start = clock.reserve(0, QUANTUM, rate)
        granted[i] += QUANTUM
        heapq.heappush(queue, (start, i))
    total = sum(granted)
    assert total == pytest.approx(60 * rate, rel=0.01)
    for share in granted:
        assert share == pytest.approx(total / 4, rel=0.01)


def test_fair_shares_between_threads_in_real_time(tmp_path):
    """Four threads pushing 1 MiB chunks through one 16 MiB/s budget for 1.5 s."""
    b = Budget(BandwidthSchema().load({"limit": "16MiB/s"}), SharedClock(str(tmp_path / "budget")))
    sent = [0] * 4
    ready = threading.Barrier(4)

    def transfer(i):
        throttle = b.meter("org")
        ready.wait()
        while time.monotonic() < stop:
            throttle(MIB)
            sent[i] += MIB

    threads = [threading.Thread(target=transfer, args=(i,)) for i in range(4)]
    start = time.monotonic()
    stop = start + 1.5
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert sum(sent) / (elapsed + BURST) == pytest.approx(16 * MIB, rel=0.15)
    for share in sent:  # each within 25% of a fair quarter (the benchmark's criterion)
        assert share == pytest.approx(sum(sent) / 4, rel=0.25)


# --- the clock ---------------------------------------------------------------------------------
def test_reservations_queue_in_arrival_order(fake):
    fake_time, clock = fake
    t0 = fake_time.now
    assert clock.reserve(0, 100, 100.0) == t0
    assert clock.reserve(0, 100, 100.0) == t0 + 1
    assert clock.reserve(1, 100, 100.0) == t0  # another slot is another link
    assert clock.reserve(0, 50, 100.0) == t0 + 2


def test_slots_outside_the_file_are_refused(tmp_path):
    clock = SharedClock(str(tmp_path / "budget"), slots=2)
    with pytest.raises(IndexError):
        clock.reserve(2, 1, 1.0)
    with pytest.raises(ValueError, match="need 3 budget slots"):
        Budget(BandwidthSchema().load({"per_organization": {"a": "1B/s", "b": "1B/s"}}), clock)


def test_organization_slots_agree_between_instances(tmp_path):
    policy = BandwidthSchema().load({"per_organization": {"zeta": "1B/s", "alpha": "1B/s"}})
    a = Budget(policy, SharedClock(str(tmp_path / "budget")))
    b = Budget(BandwidthSchema().load({"per_organization": {"alpha": "1B/s", "zeta": "1B/s"}}),
               SharedClock(str(tmp_path / "budget")))
    assert a._org_slots == b._org_slots == {"alpha": 1, "zeta": 2}


def test_a_private_clock_removes_its_file():
    clock = SharedClock()
    path = clock.path
    assert os.path.getsize(path) == 8 * clock.slots
    clock.close()
    del clock
    gc.collect()
    assert not os.path.exists(path)


def test_schema_errors_are_marshmallow_errors():
    with pytest.raises(ValidationError):
        BandwidthSchema().load({"limit": 5})
