"""Upload seats of a fleet on a real redis-server: replicas that share only Redis share a tenant's seats,
a lease is renewed while its upload runs and ends when its process dies, and Redis away leaves each
replica its own seats, with the fleet's back without a restart."""

import logging
import multiprocessing
import os
import signal
import time

import pytest

from adapter import fleet_seats
from adapter.fleet_budget import connect
from adapter.fleet_seats import FleetSeats
from adapter.throttle import BandwidthSchema
from adapter.upload_seats import NoSeat, UploadSeats, upload_seats
from tests.redis_server import RedisServer

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def server(tmp_path):
    with RedisServer(tmp_path, password="seats-secret-123") as srv:
        yield srv


def replica(server, tmp_path, name: str, seats: int = 3, lease: float = fleet_seats.LEASE) -> FleetSeats:
    """A replica's seats: a seat file of its own, the fleet's Redis."""
    return FleetSeats(connect(server.url, server.password), UploadSeats(seats, str(tmp_path / f"seats-{name}")), lease)


def hold(url: str, password: str, path: str, count: int, lease: float, ready) -> None:
    seats = FleetSeats(connect(url, password), UploadSeats(3, path), lease)
    assert all(seats.try_take("AK") for _ in range(count))
    ready.set()
    time.sleep(600)  # until killed


def test_replicas_that_share_only_redis_share_a_tenants_seats(server, tmp_path):
    a, b = replica(server, tmp_path, "a"), replica(server, tmp_path, "b")
    held = [a.try_take("AK"), a.try_take("AK")]
    mine = b.try_take("AK")
    assert None not in held and mine is not None and a.shared is True
    assert b.try_take("AK") is None and a.try_take("AK") is None  # 3 in the fleet, though b has 2 of its own free
    assert b.try_take("AK-OTHER") is not None  # another tenant's seats are its own
    a.give(held.pop())
    assert b.try_take("AK") is not None
    with pytest.raises(NoSeat):
        a.wait("AK", 0.2)


def test_a_lease_is_renewed_while_held_and_ends_when_its_process_dies(server, tmp_path):
    holder = replica(server, tmp_path, "holder", lease=0.6)
    kept = holder.try_take("AK")
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=hold, args=(server.url, server.password, str(tmp_path / "seats-dies"), 2, 0.6, ready))
    proc.start()
    try:
        assert ready.wait(30)
        other = replica(server, tmp_path, "other", lease=0.6)
        time.sleep(1.5)  # past the lease: the living holders renewed theirs
        assert other.try_take("AK") is None
        os.kill(proc.pid, signal.SIGKILL)  # its leases are not renewed any more
        proc.join(10)
        time.sleep(1.0)
        assert other.try_take("AK") is not None and other.try_take("AK") is not None
        assert other.try_take("AK") is None  # the renewed lease of the living holder still counts
        assert kept is not None
    finally:
        proc.kill()
        proc.join(10)


def test_leases_a_restarted_redis_lost_are_written_again_by_their_renewal(server, tmp_path):
    holder = replica(server, tmp_path, "holder", lease=0.6)
    assert holder.try_take("AK") and holder.try_take("AK")
    server.client().flushall()  # as a Redis without persistence comes back: empty
    time.sleep(0.5)  # one renewal later
    other = replica(server, tmp_path, "other", lease=0.6)
    assert other.try_take("AK") is not None and other.try_take("AK") is None


def test_redis_away_leaves_each_replica_its_own_seats_and_back_without_restart(server, tmp_path, caplog,
                                                                                monkeypatch):
    monkeypatch.setattr(fleet_seats, "RETRY", 0.3)
    a, b = replica(server, tmp_path, "a", seats=2), replica(server, tmp_path, "b", seats=2)
    assert a.try_take("AK") and a.try_take("AK")
    server.kill()
    with caplog.at_level(logging.WARNING, logger="swr_bridge.seats"):
        got = [b.try_take("AK"), b.try_take("AK")]
        assert None not in got and b.try_take("AK") is None  # b's own two, no more
        started = time.monotonic()
        b.give(got.pop())
        got.append(b.try_take("AK"))
        assert got[-1] is not None and time.monotonic() - started < 0.2  # no wait on a dead Redis
    assert b.shared is False and "Redis unreachable" in caplog.text
    server.start()
    time.sleep(0.4)
    c = replica(server, tmp_path, "c", seats=2)
    assert c.try_take("AK") and c.try_take("AK") and c.try_take("AK") is None  # a fresh Redis: 2 leases
    with caplog.at_level(logging.WARNING, logger="swr_bridge.seats"):
        for seat in got:
            b.give(seat)
        assert b.try_take("AK") is None  # b is back on the fleet's seats, which c holds
    assert b.shared is True and "Redis is back" in caplog.text


def test_the_endpoint_takes_the_fleets_seats_only_with_a_redis_backend(tmp_path):
    local = upload_seats(20, str(tmp_path / "s"), BandwidthSchema().load({}))
    assert type(local) is UploadSeats and local.seats == 20
    fleet = upload_seats(20, str(tmp_path / "s"), BandwidthSchema().load({"backend": "redis://127.0.0.1:1/0"}))
    assert type(fleet) is FleetSeats and fleet.seats == 20
    assert upload_seats(None, None, BandwidthSchema().load({})) is None
