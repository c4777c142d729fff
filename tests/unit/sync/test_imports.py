"""A sync run does not pay for the web stack or the Harbor client: Flask, prometheus, marshmallow stay unimported."""

import subprocess
import sys

CODE = """
import sys
import adapter.sync.cli, adapter.sync.engine, adapter.sync.plan, adapter.sync.remote, adapter.sync.files
import adapter.swr.organizations, adapter.transfer.streams, provisioning.yamldoc


class Orgs(adapter.swr.organizations.Organizations):  # an organization made (or found) without trouble
    def client(self, principal):
        return type("Api", (), {"ensure_organization": lambda self, org: None})()


Orgs("http://api", "http://dockyard", None, 5).ensure(type("P", (), {"access_id": "a"})(), "team")
heavy = sorted(m for m in ("flask", "werkzeug", "prometheus_client", "adapter.metrics", "marshmallow",
                           "harbor_client.client", "sqlalchemy", "jinja2") if m in sys.modules)
print(",".join(heavy))
"""


def test_sync_modules_do_not_import_flask_or_prometheus():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


class _Orgs:
    def __init__(self, exc):
        self.exc = exc

    def ensure(self, principal, org):
        raise self.exc


def _remote(exc):
    from adapter.sync.files import Account
    from adapter.sync.remote import Remote

    return Remote("swr.example", None, Account("swr.example", "u", "p", principal=object()), _Orgs(exc))


def test_organization_errors_still_become_copy_errors():
    import pytest

    from adapter.swr.organizations import OrganizationError
    from adapter.sync.errors import CopyError

    with pytest.raises(CopyError, match="organization 'team'.*quota") as info:
        _remote(OrganizationError("DENIED", "quota", 403)).ensure_organization("team")
    assert not info.value.retryable
    with pytest.raises(CopyError) as info:
        _remote(OrganizationError("UPSTREAM_ERROR", "down", 502, "http_5xx")).ensure_organization("team")
    assert info.value.retryable
    with pytest.raises(KeyError):  # anything else is not turned into a CopyError
        _remote(KeyError("x")).ensure_organization("team")
