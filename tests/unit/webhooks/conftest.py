"""Fixtures for the webhook bridge's unit tests: env secrets, an app factory over a temp SQLite store."""

from __future__ import annotations

import pytest

from adapter import create_app
from tests.unit.webhooks.helpers import SECRET_ENV, webhooks_config


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def make_app(tmp_path):
    """make_app(**webhooks overrides) -> a Flask app with the bridge on a fresh SQLite store, dispatcher off."""
    apps = []

    def build(**overrides):
        app = create_app({"webhooks": webhooks_config(f"sqlite:///{tmp_path}/events.db", **overrides),
                          "api": {"tokens_env": ["BRIDGE_API_TOKEN"]}})
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["webhooks"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def bridge(app):
    return app.extensions["webhooks"]


@pytest.fixture
def client(app):
    return app.test_client()
