"""Fixtures for the webhook bridge's integration tests: real PostgreSQL and Alertmanager, both store backends."""

from __future__ import annotations

import uuid

import pytest

from tests.doubles.harbor.fixtures import harbor_double, harbor_state  # noqa: F401 - for the Harbor path
from tests.fixtures import secrets_fixture
from tests.integration.webhooks.services import Postgres
from tests.unit.webhooks.helpers import SECRET_ENV

PG_PASSWORD_ENV = "BRIDGE_STORE_PASSWORD"


secrets_env = secrets_fixture(SECRET_ENV)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the session; a missing package fails the tests that need it."""
    try:
        server = Postgres().start()
    except Exception as exc:  # any start failure is reported as a test failure, never a skip
        pytest.fail(f"PostgreSQL could not be started: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres, monkeypatch):
    """A fresh database; its password reaches the bridge only through the env var PG_PASSWORD_ENV."""
    name = f"wh_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    monkeypatch.setenv(PG_PASSWORD_ENV, postgres.password)
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The same tests on both backends: SQLite (WAL) in a temp dir, and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store_conf(store_url):
    """webhooks keys that point a bridge at the store under test."""
    conf = {"store": store_url}
    if store_url.startswith("postgresql"):
        conf["store_password_env"] = PG_PASSWORD_ENV
    return conf


@pytest.fixture
def make_app(store_conf):
    """make_app(**webhooks overrides) -> an app on the store under test, dispatcher off."""
    from tests.unit.webhooks.helpers import bridge_apps

    with bridge_apps(**store_conf) as build:
        yield build
