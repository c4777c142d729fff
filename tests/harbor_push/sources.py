"""Where the artifacts come from: an OCI image layout, skopeo's `dir:` layout, or a live registry
(the part Harbor's local registry plays in a real replication)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# src/pkg/registry/client.go `accepts`, in this order.
MANIFEST_ACCEPTS = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, SCHEMA1_SIGNED, SCHEMA1)
MANIFEST_TYPES = frozenset(MANIFEST_ACCEPTS)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
READ_SIZE = 1 << 20


class SourceError(Exception):
    """The source cannot produce what was asked for."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A pulled manifest: its bytes, the media type Payload() reports, and its digest."""

    media_type: str
    payload: bytes
    digest: str

    @property
    def document(self) -> dict:
        return json.loads(self.payload)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def references(self) -> list[Descriptor]:
        """distribution's Manifest.References(): an index's children, else the config then the layers."""
        if self.media_type not in INDEX_TYPES | {OCI_MANIFEST, DOCKER_MANIFEST}:
            raise SourceError(f"manifest type {self.media_type!r} is not supported by this client")
        try:
            doc = self.document
            if self.is_index:
                entries = doc.get("manifests") or []
            else:
                entries = [doc["config"], *(doc.get("layers") or [])]
            return [Descriptor(e.get("mediaType", ""), e["digest"], int(e.get("size") or 0)) for e in entries]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SourceError(f"malformed {self.media_type} manifest: {exc!r}") from None


def manifest_media_type(payload: bytes, declared: str | None = None) -> str:
    """What distribution's Payload() returns: the declared type for an index/list or a Docker
    manifest, `application/vnd.oci.image.manifest.v1+json` for an OCI manifest (mediaType optional)."""
    try:
        doc = json.loads(payload)
    except ValueError:
        raise SourceError("manifest is not JSON") from None
    media_type = doc.get("mediaType") or declared
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise SourceError(f"unknown manifest media type {media_type!r}")
    return media_type


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Source(Protocol):
    """What HarborPusher reads from: manifests by tag or digest, blobs whole or by byte range."""

    def pull_manifest(self, repository: str, reference: str) -> Manifest: ...

    def pull_blob(self, repository: str, digest: str) -> tuple[int, Iterator[bytes]]: ...

    def pull_blob_chunk(self, repository: str, digest: str, start: int, end: int) -> tuple[int, Iterator[bytes]]: ...


def _read_file(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        left = None if end is None else end - start + 1
        while left is None or left > 0:
            buf = fh.read(READ_SIZE if left is None else min(READ_SIZE, left))
            if not buf:
                return
            if left is not None:
                left -= len(buf)
            yield buf


class OciLayoutSource:
    """An OCI image layout directory (tests/images.py OciLayout); the repository argument is ignored."""

    def __init__(self, root):
        self.root = Path(root)
        if not (self.root / "index.json").is_file():
            raise SourceError(f"{self.root} is not an OCI image layout (no index.json)")

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexa = digest.partition(":")
        path = self.root / "blobs" / algorithm / hexa
        if not hexa or not path.is_file():
            raise SourceError(f"blob {digest} is not in {self.root}")
        return path

    def _resolve(self, reference: str) -> tuple[str, str | None]:
        if ":" in reference:
            return reference, None
        index = json.loads((self.root / "index.json").read_text())
        for entry in index.get("manifests") or []:
            if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") == reference:
                return entry["digest"], entry.get("mediaType")
        raise SourceError(f"tag {reference!r} is not in {self.root}/index.json")

    def pull_manifest(self, repository: str, reference: str) -> Manifest:
        digest, declared = self._resolve(reference)
        payload = self.blob_path(digest).read_bytes()
        return Manifest(manifest_media_type(payload, declared), payload, sha256(payload))

    def pull_blob(self, repository: str, digest: str) -> tuple[int, Iterator[bytes]]:
        path = self.blob_path(digest)
        return path.stat().st_size, _read_file(path)

    def pull_blob_chunk(self, repository: str, digest: str, start: int, end: int) -> tuple[int, Iterator[bytes]]:
        path = self.blob_path(digest)
        return end - start + 1, _read_file(path, start, end)


class DirSource(OciLayoutSource):
    """skopeo's `dir:` layout (tests/images.py DirLayout, Docker media types): `manifest.json` is the
    tagged manifest whatever tag is asked for; list members are `<hex>.manifest.json`."""

    def __init__(self, root):
        self.root = Path(root)
        if not (self.root / "manifest.json").is_file():
            raise SourceError(f"{self.root} is not a skopeo dir: layout (no manifest.json)")

    def blob_path(self, digest: str) -> Path:
        path = self.root / digest.partition(":")[2]
        if not path.is_file():
            raise SourceError(f"blob {digest} is not in {self.root}")
        return path

    def pull_manifest(self, repository: str, reference: str) -> Manifest:
        if ":" in reference:
            path = self.root / f"{reference.partition(':')[2]}.manifest.json"
            if not path.is_file():
                top = (self.root / "manifest.json").read_bytes()
                if sha256(top) != reference:
                    raise SourceError(f"manifest {reference} is not in {self.root}")
                path = self.root / "manifest.json"
        else:
            path = self.root / "manifest.json"
        payload = path.read_bytes()
        return Manifest(manifest_media_type(payload), payload, sha256(payload))


def open_layout(root) -> OciLayoutSource:
    """The right source for a directory written by tests/images.py (OCI layout or `dir:`)."""
    root = Path(root)
    return OciLayoutSource(root) if (root / "index.json").is_file() else DirSource(root)


class RegistrySource:
    """A live registry read the way Harbor reads its local registry (client.go PullManifest with the
    six Accept values, PullBlob / PullBlobChunk with `Accept-Encoding: identity`).

    `client` is a tests.harbor_push.client.RegistryClient for the source registry.
    """

    def __init__(self, client):
        self.client = client

    def pull_manifest(self, repository: str, reference: str) -> Manifest:
        return self.client.pull_manifest(repository, reference)

    def pull_blob(self, repository: str, digest: str) -> tuple[int, Iterator[bytes]]:
        return self.client.pull_blob(repository, digest)

    def pull_blob_chunk(self, repository: str, digest: str, start: int, end: int) -> tuple[int, Iterator[bytes]]:
        return self.client.pull_blob_chunk(repository, digest, start, end)
