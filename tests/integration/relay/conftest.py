"""Fixtures for the relay tests: a sandbox of their own, an in-process app and a gunicorn endpoint."""

import itertools

import pytest

from adapter import create_app
from adapter.config import load_data
from adapter.sandbox.runner import Sandbox
from tests.conftest import SANDBOX_TENANTS
from tests.integration.endpoint import Endpoint
from tests.registries import TEST_STRICT

INSTANCE_KEY = "relay-tests-instance-key-0123456789"
_orgs = itertools.count(1)


@pytest.fixture(scope="module")
def sbx(tmp_path_factory):
    # Two tenants: SWR's limits are per tenant, and some tests show one tenant's uploads beside another's.
    with Sandbox(tmp_path_factory.mktemp("sandbox"), tenants=SANDBOX_TENANTS, org_quota=100,
                 strict=TEST_STRICT) as sandbox:
        yield sandbox


@pytest.fixture
def org(sbx):
    """A fresh organization, created in the sandbox beforehand (auto-creation has its own tests)."""
    name = f"relay-org{next(_orgs)}"
    sbx.create_organization(sbx.tenants[0], name)
    return name


@pytest.fixture
def tenant(sbx):
    return sbx.tenants[0]


def relay_config(sbx, mapping=None, **extra) -> dict:
    data = {"swr": {"registry": sbx.registry_url, "api": sbx.api_url},
            "mapping": mapping or [], **extra}
    return load_data(data)


@pytest.fixture
def make_app(sbx, monkeypatch):
    monkeypatch.setenv("SWR_BRIDGE_KEY", INSTANCE_KEY)

    def make(mapping=None, **extra):
        extra.setdefault("organizations", {"auto_create": False})  # the `org` fixture made them
        app = create_app(relay_config(sbx, mapping, **extra))
        app.testing = True
        return app
    return make


@pytest.fixture
def endpoint(sbx, tmp_path):
    """A `swr-bridge serve` process mapping library/** into organization relay-flat (Flatten All Levels)."""
    mapping = [{"match": "library/**", "namespace": "relay-flat", "flatten": "all"}]
    with Endpoint(tmp_path, sbx, mapping=mapping, instance_key=INSTANCE_KEY) as ep:
        yield ep
