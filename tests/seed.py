"""Fills a docker-registry's filesystem storage directly: thousands of small tagged images in seconds.

Writes distribution's layout (blobs/sha256/xx/HEX/data, and per repository _layers, _manifests/revisions
and _manifests/tags/TAG/{current,index}) before the registry starts. Every image shares one config and
one layer blob; each tag's OCI manifest differs by an annotation, so every tag has its own digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                     "config": {}}).encode()
LAYER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # an empty gzip


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Seeder:
    """seed(repository, tags) writes those tags into the storage at `root` (the registry's rootdirectory)."""

    def __init__(self, root: Path):
        self.v2 = Path(root) / "docker" / "registry" / "v2"
        self.config, self.layer = self._blob(CONFIG), self._blob(LAYER)

    def _blob(self, data: bytes) -> str:
        hexd = _digest(data)
        path = self.v2 / "blobs" / "sha256" / hexd[:2] / hexd / "data"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return hexd

    @staticmethod
    def _link(path: Path, hexd: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "link").write_text(f"sha256:{hexd}")

    def manifest(self, name: str) -> bytes:
        desc = lambda media, hexd, size: {"mediaType": media, "digest": f"sha256:{hexd}", "size": size}  # noqa: E731
        return json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", self.config, len(CONFIG)),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", self.layer, len(LAYER))],
            "annotations": {"org.example.seed": name}}, separators=(",", ":")).encode()

    def seed(self, repository: str, tags: Iterable[str]) -> dict[str, str]:
        """Writes repository:tag for each tag; returns {tag: manifest digest}."""
        repo = self.v2 / "repositories" / repository
        for hexd in (self.config, self.layer):
            self._link(repo / "_layers" / "sha256" / hexd, hexd)
        found = {}
        for tag in tags:
            hexd = self._blob(self.manifest(f"{repository}:{tag}"))
            self._link(repo / "_manifests" / "revisions" / "sha256" / hexd, hexd)
            self._link(repo / "_manifests" / "tags" / tag / "current", hexd)
            self._link(repo / "_manifests" / "tags" / tag / "index" / "sha256" / hexd, hexd)
            found[tag] = f"sha256:{hexd}"
        return found
