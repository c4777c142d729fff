"""Manifests as the sync handles them: byte-exact, their blobs and children, and platform filters."""

from __future__ import annotations

import json
import platform as host_platform
from dataclasses import dataclass

from adapter.sync.errors import CopyError
from adapter.transfer.oci import (
    DOCKER_MANIFEST,
    FOREIGN,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1,
    sha256_digest,
)

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class Manifest:
    body: bytes
    media_type: str
    doc: dict

    @property
    def digest(self) -> str:
        return sha256_digest(self.body)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def is_schema1(self) -> bool:
        return self.media_type in SCHEMA1

    @property
    def children(self) -> list[dict]:
        return list(self.doc.get("manifests") or []) if self.is_index else []

    @property
    def blobs(self) -> list[dict]:
        """Config and layers that have to travel (foreign layers and URL-only layers stay behind)."""
        if self.is_index:
            return []
        if self.is_schema1:  # layers without sizes, often repeated (empty layers): each digest once
            sums = [layer.get("blobSum") for layer in self.doc.get("fsLayers") or []]
            return [{"digest": digest} for digest in dict.fromkeys(sums) if isinstance(digest, str)]
        found = [self.doc["config"]] if isinstance(self.doc.get("config"), dict) else []
        found += [layer for layer in self.doc.get("layers") or []
                  if layer.get("mediaType") not in FOREIGN and not layer.get("urls")]
        return found


def load(body: bytes, content_type: str | None, what: str, *, schema1: bool = False) -> Manifest:
    """Parses a manifest; the media type is its own mediaType, else the Content-Type it came with.

    Docker schema 1 is taken as it is (image-syncer copies it unconverted) only with `schema1`."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise CopyError(f"{what}: the manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise CopyError(f"{what}: the manifest is not a JSON object")
    media_type = doc.get("mediaType") or content_type or ""
    if media_type in SCHEMA1 or doc.get("schemaVersion") == 1:
        if not schema1:
            raise CopyError(f"{what}: Docker schema 1 manifests are not supported; convert the image first")
        signed = "signatures" in doc or media_type == SCHEMA1[0]
        return Manifest(body, SCHEMA1[0] if signed else SCHEMA1[1], doc)
    if not media_type or media_type == "application/json":
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in (*INDEX_TYPES, OCI_MANIFEST, DOCKER_MANIFEST):
        raise CopyError(f"{what}: unsupported manifest type {media_type!r}")
    return Manifest(body, media_type, doc)


def _matches(wanted: tuple[str, ...], value: str, detail: str) -> bool:
    """image-syncer's rule: `value` or `value:detail` is listed; an unknown value never filters."""
    if not wanted or not value:
        return True
    return any(w == value or (detail and w == f"{value}:{detail}") for w in wanted)


def platform_matches(platform: dict | None, oses: tuple[str, ...], arches: tuple[str, ...]) -> bool:
    platform = platform or {}
    return (_matches(oses, platform.get("os", ""), platform.get("os.version", ""))
            and _matches(arches, platform.get("architecture", ""), platform.get("variant", "")))


def filter_index(index: Manifest, oses: tuple[str, ...], arches: tuple[str, ...]) -> Manifest | None:
    """The index with only the matching platforms: unchanged bytes when all match, None when none do."""
    kept = [m for m in index.children if platform_matches(m.get("platform"), oses, arches)]
    if not kept:
        return None
    if len(kept) == len(index.children):
        return index
    doc = dict(index.doc, manifests=kept)
    return Manifest(json.dumps(doc, separators=(",", ":")).encode(), index.media_type, doc)


def host_platform_filter() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(oses, arches) of this machine, for `copy` without --all (what `docker pull` would take)."""
    machine = host_platform.machine().lower()
    return ("linux",), (_ARCH.get(machine, machine),)


def load_json(data: bytes) -> dict:
    """A small JSON document (an image config); anything unreadable is an empty one."""
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def schema1_refused(source: str, swr: bool) -> str:
    """What to do when a destination refuses a Docker schema 1 manifest (which the sync does not convert)."""
    advice = (f"the destination does not take Docker schema 1 manifests ({source} is one, copied unconverted "
              "as image-syncer copies it)")
    if swr:
        return (f"{advice}. SWR needs schema 2: convert it first, e.g. `skopeo copy --format v2s2 docker://{source} "
                "docker://<a registry you can write>/...:<tag>` (or docker pull, then docker push with a current "
                "Docker), and sync that copy")
    return f"{advice}; convert it to schema 2 first (e.g. skopeo copy --format v2s2)"
