"""Fixtures shared by the operations tests: a strict sandbox whose first tenant owns the module's ORGS."""

from __future__ import annotations

import pytest

from adapter.sandbox.runner import Sandbox
from tests.registries import TEST_STRICT


@pytest.fixture(scope="module")
def sbx(request, tmp_path_factory):
    """The test module's ORGS are created before its tests run."""
    with Sandbox(tmp_path_factory.mktemp("sandbox"), org_quota=10, strict=TEST_STRICT) as sandbox:
        for org in request.module.ORGS:
            sandbox.create_organization(sandbox.tenants[0], org)
        yield sandbox
