"""Shared fixtures: a free port helper, one real SWR sandbox per session, and random OCI test images."""

from __future__ import annotations

import itertools
import os

import pytest

from adapter.sandbox.runner import Sandbox
from adapter.sandbox.state import Tenant
from tests import images
from tests.registries import TEST_STRICT

# Two tenants so tests can check that one account cannot reach another's organizations.
SANDBOX_TENANTS = [
    Tenant("eu-de", "SBXTESTTENANTA000001", "sandbox-test-secret-a-0123456789abcdef"),
    Tenant("eu-nl", "SBXTESTTENANTB000002", "sandbox-test-secret-b-0123456789abcdef"),
]
# Generous, because every layer's tests share the session sandbox; quota tests start their own.
SESSION_ORG_QUOTA = 1000
_org_counter = itertools.count(1)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """A started Sandbox (docker-registry + token service + /v2/manage + /dockyard) on free ports.

    Its tenants are SANDBOX_TENANTS; sandbox.tenants[0] is the one most tests use.
    """
    with Sandbox(tmp_path_factory.mktemp("sandbox"), tenants=SANDBOX_TENANTS,
                 org_quota=SESSION_ORG_QUOTA, strict=TEST_STRICT) as box:
        yield box


@pytest.fixture(scope="session")
def alertmanager():
    """A real Alertmanager for the session (webhook sinks, end to end); one that cannot start fails the test."""
    from tests.integration.webhooks.services import Alertmanager

    try:
        server = Alertmanager().start()
    except Exception as exc:  # noqa: BLE001 - a missing package is a failure, not a skip
        pytest.fail(f"Alertmanager could not be started: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def new_org(sandbox):
    """A factory: creates a fresh, uniquely named organization for a tenant (the first by default)."""

    def create(tenant=None, prefix: str = "org") -> str:
        name = f"{prefix}{os.getpid()}-{next(_org_counter)}"
        sandbox.create_organization(tenant, name)
        return name

    return create


@pytest.fixture
def oci_image(tmp_path_factory):
    """A factory for small random OCI layout images: oci_image(tag="latest", layers=2, layer_size=4096).

    Returns a tests.images.Image; push it with tests.images.push(image, "127.0.0.1:PORT/org/repo:tag", creds).
    Other shapes (index, Docker manifest list, artifact, big blob) are in tests/images.py.
    """

    def build(tag: str = "latest", **kwargs) -> images.Image:
        return images.build_image(tmp_path_factory.mktemp("oci"), tag, **kwargs)

    return build
