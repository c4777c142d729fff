"""The OCI facts both the endpoint and the sync check against: manifest media types and digests."""

from __future__ import annotations

import hashlib
import re

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+prettyjws",
           "application/vnd.docker.distribution.manifest.v1+json")
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# Every manifest type a registry may hold, in the order an Accept header asks for them.
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, *SCHEMA1)
ACCEPT = ", ".join(MANIFEST_TYPES)
# Layers that registries do not serve (Windows base layers): referenced, never copied.
FOREIGN = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
           "application/vnd.oci.image.layer.nondistributable.v1.tar",
           "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
           "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")

DIGEST_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


def is_digest(reference: str | None) -> bool:
    """`sha256:<64 hex>` or `sha512:<128 hex>`: a content address rather than a tag."""
    return bool(reference) and DIGEST_RE.match(reference) is not None


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
