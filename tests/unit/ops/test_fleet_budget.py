"""The fleet budget on a real redis-server: one rate across budgets that share nothing but Redis, the
config it takes, and the three ways to behave while Redis is away, with recovery without a restart."""

import logging
import time

import pytest
from marshmallow import ValidationError

from adapter import fleet_budget
from adapter.fleet_budget import BudgetUnavailable, FleetClock, connect
from adapter.throttle import BandwidthSchema, Budget, SharedClock
from adapter.transfer.errors import TransferError
from tests.redis_server import RedisServer

MIB = 1024 * 1024


@pytest.fixture
def server(tmp_path):
    with RedisServer(tmp_path, password="fleet-secret-123") as srv:
        yield srv


def clock(server, mode="local-share", replica=None, changes=None):
    c = FleetClock(connect(server.url, server.password), SharedClock(), mode, replica=replica,
                   on_change=changes.append if changes is not None else None)
    wait_for(lambda: c.shared is True)
    return c


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_the_config_takes_a_backend_and_refuses_bad_ones():
    policy = BandwidthSchema().load({"limit": "24MiB/s", "backend": "rediss://redis.example:6380/0",
                                     "password_env": "REDIS_PASSWORD", "on_backend_error": "open"})
    assert (policy.backend, policy.password_env, policy.on_backend_error) == \
        ("rediss://redis.example:6380/0", "REDIS_PASSWORD", "open")
    assert BandwidthSchema().load({}).backend == "local"
    for bad, why in [({"backend": "memcached://x"}, "redis://"), ({"backend": "redis://:pw@h:6379/0"}, "password_env"),
                     ({"on_backend_error": "fail"}, "Must be one of")]:
        with pytest.raises(ValidationError, match=why):
            BandwidthSchema().load(bad)


def test_budgets_sharing_only_redis_book_one_link(server):
    """Two replicas' clocks book 1 MiB each at 4 MiB/s: the second waits for the first's quarter second."""
    a, b = clock(server, replica="a"), clock(server, replica="b")
    delay_a, _ = a.book([(None, 0, 4 * MIB)], MIB, 0.0)
    delay_b, which = b.book([(None, 0, 4 * MIB), ("slow", 1, 1 * MIB)], MIB, 0.0)
    assert delay_a <= 0.01
    assert 0.2 <= delay_b <= 0.26 and which == 0  # the instance link held it, the org's own was free
    delay, which = a.book([(None, 0, 4 * MIB), ("slow", 1, 1 * MIB)], MIB, 0.0)
    assert 0.9 <= delay <= 1.01 and which == 1  # the organization's link, booked by b, holds it now
    wait_for(lambda: a.replicas == 2 and b.replicas == 2)
    a.close()
    b.close()


def test_a_budget_holds_its_rate_through_redis(server):
    policy = BandwidthSchema().load({"limit": "8MiB/s", "backend": server.url})
    budget = Budget(policy, clock(server))
    throttle = budget.meter("org")
    start = time.monotonic()
    throttle(16 * MIB)
    # The last quantum goes as its turn begins and an idle link lends BURST: (16 - 1) / 8 - 0.1 s.
    assert 1.7 <= time.monotonic() - start <= 2.1
    budget.clock.close()


def test_local_share_while_redis_is_away_and_back_without_restart(server, caplog):
    changes = []
    a, b = clock(server, replica="a", changes=changes), clock(server, replica="b")
    wait_for(lambda: a.replicas == 2)
    b.close()
    caplog.set_level(logging.WARNING, logger="swr_bridge.bandwidth")
    server.kill()
    a.book([(None, 0, 8 * MIB)], MIB, 0.0)  # the failing call switches at once
    assert changes == ["shared", "local-share"] and a.shared is False
    # Half the limit on this replica's own file: 1 MiB at 8/2 MiB/s is a quarter second.
    a.book([(None, 0, 8 * MIB)], MIB, 0.0)
    delay, _ = a.book([(None, 0, 8 * MIB)], MIB, 0.0)
    assert 0.2 <= delay <= 0.51
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "local-share" in lines[0] and "1/2" in lines[0]
    assert server.password not in lines[0]
    server.start()
    wait_for(lambda: a.shared is True)
    assert changes == ["shared", "local-share", "shared"]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2 and "back" in lines[1]
    a.close()


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_open_lets_bytes_go_and_closed_stops_them(server, mode):
    c = clock(server, mode=mode)
    server.kill()
    if mode == "open":
        assert c.book([(None, 0, MIB)], 10 * MIB, 0.0) == (0.0, -1)
    else:
        with pytest.raises(BudgetUnavailable) as raised:
            c.book([(None, 0, MIB)], MIB, 0.0)
        assert isinstance(raised.value, TransferError) and raised.value.status == 503  # an OCI error, not a 500
    c.close()


def test_a_lost_redis_is_probed_by_the_heartbeat_not_by_each_booking(server, monkeypatch):
    c = clock(server)
    server.kill()
    c.book([(None, 0, MIB)], MIB, 0.0)
    calls = []
    monkeypatch.setattr(c, "_book", lambda **kw: calls.append(kw))
    for _ in range(10):
        c.book([(None, 0, 100 * MIB)], MIB, 0.0)
    assert calls == []
    assert fleet_budget.HEARTBEAT <= 2.0
    c.close()
