"""Retries: idempotent calls on 429/502/503/504 with backoff and Retry-After; never a POST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from harbor_client import HarborClient, Registry, RegistryUpdate, ServerError
from harbor_client.errors import HarborHTTPError
from tests.doubles.harbor import ADMIN


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_get_is_retried_with_doubling_backoff(harbor_double, harbor, sleeps, relay, status):
    harbor_double.fail("GET", "/registries/{id}", status, times=2)
    assert harbor.registries.get(relay["id"]).name == "relay"
    assert harbor_double.count("GET", "/registries/{id}") == 3
    assert sleeps == [0.5, 1.0]


def test_retries_keep_the_request_id(harbor_double, harbor, relay):
    harbor_double.fail("GET", "/registries/{id}", 503)
    harbor.registries.get(relay["id"])
    first, second = harbor_double.calls("GET", "/registries/{id}")
    assert first.headers["X-Request-Id"] == second.headers["X-Request-Id"]


def test_put_and_delete_are_retried(harbor_double, harbor, relay):
    harbor_double.fail("PUT", "/registries/{id}", 503)
    harbor_double.fail("DELETE", "/registries/{id}", 502)
    harbor.registries.update(relay["id"], RegistryUpdate(description="retried"))
    harbor.registries.delete(relay["id"])
    assert harbor_double.count("PUT") == 2 and harbor_double.count("DELETE") == 2
    assert relay["id"] not in harbor_double.state.registries


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_post_is_never_retried(harbor_double, harbor, sleeps, status):
    harbor_double.fail("POST", "/registries", status, headers={"Retry-After": "1"})
    with pytest.raises(HarborHTTPError) as err:
        harbor.registries.create(Registry(name="r", url="https://r.example.com", type="docker-registry"))
    assert err.value.status == status
    assert harbor_double.count("POST", "/registries") == 1
    assert sleeps == [] and harbor_double.state.registries == {}


def test_start_execution_is_never_retried(harbor_double, harbor_state, harbor, sleeps, relay):
    policy = harbor_state.add_policy("p", dest_registry_id=relay["id"])
    harbor_double.fail("POST", "/replication/executions", 503)
    with pytest.raises(ServerError):
        harbor.executions.start(policy["id"])
    assert harbor_double.count("POST", "/replication/executions") == 1 and sleeps == []


def test_retry_after_seconds_is_honoured(harbor_double, harbor, sleeps, relay):
    harbor_double.fail("GET", "/registries/{id}", 429, headers={"Retry-After": "7"})
    harbor.registries.get(relay["id"])
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(harbor_double, harbor, sleeps, relay):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    harbor_double.fail("GET", "/registries/{id}", 503, headers={"Retry-After": when})
    harbor.registries.get(relay["id"])
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 20


def test_a_shorter_retry_after_does_not_undercut_the_backoff(harbor_double, harbor, sleeps, relay):
    harbor_double.fail("GET", "/registries/{id}", 503, times=2, headers={"Retry-After": "0"})
    harbor.registries.get(relay["id"])
    assert sleeps == [0.5, 1.0]


def test_retry_after_beyond_max_wait_gives_up_at_once(harbor_double, harbor, sleeps, relay):
    harbor_double.fail("GET", "/registries/{id}", 503, headers={"Retry-After": "3600"})
    with pytest.raises(ServerError):
        harbor.registries.get(relay["id"])
    assert sleeps == [] and harbor_double.count("GET", "/registries/{id}") == 1


def test_retries_are_bounded(harbor_double, harbor, sleeps, relay):
    harbor_double.fail("GET", "/registries/{id}", 503, times=10)
    with pytest.raises(ServerError) as err:
        harbor.registries.get(relay["id"])
    assert err.value.status == 503
    assert harbor_double.count("GET", "/registries/{id}") == 4  # 1 + retries=3
    assert sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("status", [500, 400, 404, 409])
def test_other_statuses_are_not_retried(harbor_double, harbor, sleeps, relay, status):
    harbor_double.fail("GET", "/registries/{id}", status)
    with pytest.raises(HarborHTTPError):
        harbor.registries.get(relay["id"])
    assert harbor_double.count("GET", "/registries/{id}") == 1 and sleeps == []


def test_retries_can_be_turned_off(harbor_double, relay):
    slept = []
    with HarborClient(harbor_double.url, ADMIN, retries=0, sleep=slept.append) as client:
        harbor_double.fail("GET", "/registries/{id}", 503)
        with pytest.raises(ServerError):
            client.registries.get(relay["id"])
    assert slept == [] and harbor_double.count() == 1


def test_a_page_of_a_list_is_retried_alone(harbor_double, harbor_state, harbor, sleeps):
    for i in range(15):
        harbor_state.add_registry(f"r{i:02d}")
    harbor_double.fail("GET", "/registries", 503)
    assert len(list(harbor.registries.list(page_size=10))) == 15
    pages = [r.query["page"] for r in harbor_double.calls("GET", "/registries")]
    assert pages == [["1"], ["1"], ["2"]] and sleeps == [0.5]
