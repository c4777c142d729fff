"""Repository discovery: asks docker-registry (catalog, tags, manifests) with tokens the sandbox mints, and reads
the registry's storage for what its API does not tell (times, tag digests)."""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests

from adapter.sandbox.tokens import TokenIssuer

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


class CatalogError(RuntimeError):
    """docker-registry could not be asked (down, or answered something unexpected)."""


@dataclass
class Repository:
    """One repository as SWR reports it: `name` is the path under the organization."""

    namespace: str
    name: str
    tags: list[str] = field(default_factory=list)
    size: int = 0
    created: str = ""
    updated: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def id(self) -> int:
        # SWR ids are integers; a stable hash keeps them the same across restarts.
        return zlib.crc32(self.full_name.encode()) & 0x7FFFFFFF


@dataclass
class TagEntry:
    """One tag as SWR's tag listing reports it: the manifest it points at, and when."""

    tag: str
    digest: str
    manifest: bytes
    created: str
    updated: str


class RegistryCatalog:
    """Reads docker-registry over HTTP; `url` is set once the child is up."""

    def __init__(self, issuer: TokenIssuer, url: str | None = None, storage: Path | None = None):
        self.issuer, self.url, self.storage = issuer, url, storage
        # The API server is threaded and a requests.Session is not meant to be shared between threads.
        self._local = threading.local()

    @property
    def _http(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _get(self, path: str, access: list[dict], **kwargs) -> requests.Response:
        if not self.url:
            raise CatalogError("the registry is not running")
        token, _ = self.issuer.mint("swr-sandbox", access, ttl=60)
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        try:
            return self._http.get(self.url + path, headers=headers, timeout=10, **kwargs)
        except requests.RequestException as exc:
            raise CatalogError(f"registry unreachable: {exc.__class__.__name__}") from None

    def repository_names(self) -> list[str]:
        names, last = [], None
        access = [{"type": "registry", "name": "catalog", "actions": ["*"]}]
        while True:
            params = {"n": 1000, **({"last": last} if last else {})}
            resp = self._get("/v2/_catalog", access, params=params)
            if resp.status_code != 200:
                raise CatalogError(f"registry catalog answered {resp.status_code}")
            page = resp.json().get("repositories") or []
            names.extend(page)
            if "next" not in resp.links or not page:
                return names
            last = page[-1]

    def tags(self, name: str) -> list[str]:
        resp = self._get(f"/v2/{name}/tags/list", [_pull(name)])
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise CatalogError(f"registry tags/list for {name} answered {resp.status_code}")
        return sorted(resp.json().get("tags") or [])

    def image_size(self, name: str, tag: str) -> int:
        """Config plus layers (or, for an index, the child manifests), as the manifest declares them."""
        resp = self._get(f"/v2/{name}/manifests/{tag}", [_pull(name)], headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code != 200:
            return 0
        try:
            return declared_size(json.loads(resp.content))
        except ValueError:
            return 0

    def tag_entries(self, full: str) -> list[TagEntry] | None:
        """The repository's tags with their manifests (None: no such repository), read from storage because
        docker-registry has no API that lists digests. `full` must be a checked repository name."""
        base = self._repository_dir(full)
        if base is None or not base.is_dir():
            return None
        entries, tags = [], os.path.join(base, "_manifests", "tags")
        blobs = os.path.join(self.storage, "docker", "registry", "v2", "blobs")
        for tag in sorted(os.listdir(tags)) if os.path.isdir(tags) else []:
            link = os.path.join(tags, tag, "current", "link")
            try:
                with open(link) as f:
                    digest = f.read().strip()
                algorithm, _, hexdigest = digest.partition(":")
                with open(os.path.join(blobs, algorithm, hexdigest[:2], hexdigest, "data"), "rb") as f:
                    body = f.read()
                stat = os.stat(link)
            except OSError:  # a tag being deleted while we look
                continue
            entries.append(TagEntry(tag, digest, body, _iso(stat.st_ctime), _iso(stat.st_mtime)))
        return entries

    def _repository_dir(self, full: str) -> Path | None:
        return self.storage / "docker/registry/v2/repositories" / full if self.storage else None

    def repositories(self, namespaces, *, with_sizes: bool = True) -> list[Repository]:
        """The repositories under the given organizations, with tags, sizes and times."""
        wanted = set(namespaces)
        found = []
        for full in self.repository_names():
            ns, _, rest = full.partition("/")
            if ns not in wanted or not rest:
                continue
            repo = Repository(ns, rest, self.tags(full))
            if with_sizes:
                repo.size = sum(self.image_size(full, t) for t in repo.tags)
            repo.created, repo.updated = self._times(full)
            found.append(repo)
        return found

    def _times(self, full: str) -> tuple[str, str]:
        # docker-registry has no API for times, but the sandbox owns its storage directory.
        base = self._repository_dir(full)
        if base is None or not base.is_dir():
            now = _iso(datetime.now(timezone.utc).timestamp())
            return now, now
        links = list((base / "_manifests/tags").glob("*/current/link"))
        updated = max((p.stat().st_mtime for p in links), default=base.stat().st_mtime)
        return _iso(base.stat().st_ctime), _iso(updated)


def declared_size(doc) -> int:
    """Config plus layers (or, for an index, the child manifests), as a manifest declares them."""
    if not isinstance(doc, dict):
        return 0
    parts = [doc.get("config") or {}] + (doc.get("layers") or []) + (doc.get("manifests") or [])
    return sum(int(p.get("size") or 0) for p in parts if isinstance(p, dict))


def _pull(name: str) -> dict:
    return {"type": "repository", "name": name, "actions": ["pull"]}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
