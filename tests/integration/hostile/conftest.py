"""The hostile suite's sandbox: one per module, with the organization its requests aim at."""

import pytest

from adapter.sandbox.runner import Sandbox


@pytest.fixture(scope="module")
def sbx(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("sandbox"), org_quota=10) as sandbox:
        sandbox.create_organization(sandbox.tenants[0], "hostile")
        yield sandbox
