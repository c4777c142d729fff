"""SWR token requests: a push's existence checks and its uploads share one token per repository."""

import hashlib

from adapter.registry.service import EXTENSION
from tests.integration.relay.helpers import bearer, start_upload


def record_scopes(app) -> list:
    """The scopes of every token request the app sends SWR (a login asks for none)."""
    session = app.extensions[EXTENSION].session
    asked, real = [], session.request

    def recording(method, url, *args, **kwargs):
        if "/auth" in url:
            asked.append([v for k, v in kwargs.get("params") or [] if k == "scope"])
        return real(method, url, *args, **kwargs)
    session.request = recording
    return asked


def test_a_push_asks_swr_for_one_token_per_repository(make_app, tenant, org):
    app = make_app()
    client = app.test_client()
    asked = record_scopes(app)
    for repo in (f"{org}/first", f"{org}/second"):
        auth = bearer(client, tenant, repo)
        digest = "sha256:" + hashlib.sha256(repo.encode()).hexdigest()
        assert client.head(f"/v2/{repo}/blobs/{digest}", headers=auth).status_code == 404
        location = start_upload(client, auth, repo)
        done = client.put(f"{location}&digest={digest}" if "?" in location else f"{location}?digest={digest}",
                          headers=auth, data=repo.encode())
        assert done.status_code == 201, done.get_data(as_text=True)
    assert [scopes for scopes in asked if scopes] == [[f"repository:{org}/first:pull,push"],
                                                       [f"repository:{org}/second:pull,push"]]


def test_a_pull_only_token_still_reads_with_a_pull_token(make_app, tenant, org):
    app = make_app()
    client = app.test_client()
    asked = record_scopes(app)
    auth = bearer(client, tenant, f"{org}/read", actions="pull")
    digest = "sha256:" + "0" * 64
    assert client.head(f"/v2/{org}/read/blobs/{digest}", headers=auth).status_code == 404
    assert [scopes for scopes in asked if scopes] == [[f"repository:{org}/read:pull"]]
