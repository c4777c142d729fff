"""Fixtures for the webhook bridge's unit tests: env secrets, an app factory over a temp SQLite store."""

from __future__ import annotations

import pytest

from tests.fixtures import secrets_fixture
from tests.unit.webhooks.helpers import SECRET_ENV, bridge_apps

secrets_env = secrets_fixture(SECRET_ENV)


@pytest.fixture
def make_app(tmp_path):
    """make_app(**webhooks overrides) -> a Flask app with the bridge on a fresh SQLite store, dispatcher off."""
    with bridge_apps(f"sqlite:///{tmp_path}/events.db") as build:
        yield build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def bridge(app):
    return app.extensions["webhooks"]


@pytest.fixture
def client(app):
    return app.test_client()
