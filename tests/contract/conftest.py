"""Fixtures for the Harbor push-sequence contract: the session sandbox, a gunicorn endpoint in front of
it (organizations auto-created), unique organization names, and direct reads from the sandbox."""

from __future__ import annotations

import hashlib
import itertools
import os

import pytest
import requests

from tests.images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from tests.integration.endpoint import Endpoint

_names = itertools.count(1)
DIRECT_ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


def unique(prefix: str = "hp") -> str:
    """An organization name no other test in this session uses (not created: the endpoint must)."""
    return f"{prefix}{os.getpid()}-{next(_names)}"


MAPPED_ORG = unique("hpmapped")


@pytest.fixture(scope="module")
def endpoint(sandbox, tmp_path_factory):
    """`swr-bridge serve` (2 workers) before the session sandbox; `mapped/**` lands flattened in
    MAPPED_ORG, every other name as is. Organizations are created by the endpoint."""
    mapping = [{"match": "mapped/**", "namespace": MAPPED_ORG, "flatten": "all"}]
    with Endpoint(tmp_path_factory.mktemp("endpoint"), sandbox, mapping=mapping, workers=2) as ep:
        yield ep


@pytest.fixture
def tenant(sandbox):
    return sandbox.tenants[0]


@pytest.fixture
def other_tenant(sandbox):
    return sandbox.tenants[1]


class Direct:
    """Reads straight from the sandbox registry, bypassing the endpoint."""

    def __init__(self, sandbox, tenant):
        self.sandbox, self.tenant = sandbox, tenant

    def _get(self, repo: str, path: str, **kw) -> requests.Response:
        token = self.sandbox.token(self.tenant, f"repository:{repo}:pull")
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return requests.get(f"{self.sandbox.registry_url}/v2/{repo}/{path}", headers=headers, timeout=60, **kw)

    def manifest(self, repo: str, ref: str) -> requests.Response:
        return self._get(repo, f"manifests/{ref}", headers={"Accept": DIRECT_ACCEPT})

    def blob_digest(self, repo: str, digest: str) -> tuple[str, int]:
        """sha256 and size of the stored blob, streamed."""
        resp = self._get(repo, f"blobs/{digest}", stream=True)
        assert resp.status_code == 200, f"{repo}@{digest}: {resp.status_code} {resp.text[:200]}"
        hasher, size = hashlib.sha256(), 0
        for chunk in resp.iter_content(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
        return "sha256:" + hasher.hexdigest(), size

    def assert_image(self, repo: str, ref: str, image) -> None:
        """The manifest is stored byte for byte under `ref`, and every blob (children's too) hashes
        to its digest."""
        got = self.manifest(repo, ref)
        assert got.status_code == 200, f"{repo}:{ref}: {got.status_code} {got.text[:200]}"
        assert got.content == image.manifest
        assert got.headers["Docker-Content-Digest"] == image.digest
        for blob in image.blobs:
            assert self.blob_digest(repo, blob["digest"]) == (blob["digest"], blob["size"])
        for child in image.children:
            self.assert_image(repo, child.digest, child)


@pytest.fixture
def direct(sandbox, tenant):
    return Direct(sandbox, tenant)
