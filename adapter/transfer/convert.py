"""OCI image -> Docker schema 2, which SWR takes where it refuses an OCI image index (swr.md §6.3-6.4).

Only media types change: the config and layer blobs are the same bytes under the same digests, so
nothing is uploaded again; the manifests (and so the image's digest) are new. Attestation entries of
an index (platform unknown/unknown, e.g. buildx provenance) have no Docker equivalent and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from adapter.transfer.oci import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, sha256_digest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar+gzip": DOCKER_LAYER,
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": DOCKER_FOREIGN,
    "application/vnd.oci.image.layer.nondistributable.v1.tar": DOCKER_FOREIGN,
    DOCKER_LAYER: DOCKER_LAYER,
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.docker.image.rootfs.diff.tar",
    DOCKER_FOREIGN: DOCKER_FOREIGN,
}
PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant", "features")
REFUSED_MESSAGE = "Invalid image, fail to parse 'manifest.json'"


class ConversionError(ValueError):
    """The image cannot be expressed in Docker schema 2 (an artifact, zstd layers, a nested index)."""


@dataclass
class Converted:
    """A converted image: the manifest to push last, the platform manifests to push before it, and
    how many attestation entries were left out."""

    body: bytes
    media_type: str
    children: list[bytes] = field(default_factory=list)
    dropped: int = 0

    @property
    def digest(self) -> str:
        return sha256_digest(self.body)


def _dump(doc: dict) -> bytes:
    # Fixed formatting: converting the same image again gives the same bytes, so the same digests.
    return json.dumps(doc, indent=3).encode()


def _load(body: bytes) -> dict:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ConversionError("the manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ConversionError("the manifest is not a JSON object")
    return doc


def is_oci_index(body: bytes, content_type: str = "") -> bool:
    """An OCI image index by its mediaType, or by Content-Type when it names none."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    media_type = doc.get("mediaType") or content_type.split(";")[0].strip()
    return media_type == OCI_INDEX or (not doc.get("mediaType") and "manifests" in doc
                                       and media_type in ("", "application/json"))


def refused_index(code: str | None, message: str) -> bool:
    """SWR's answer to an OCI index PUT: MANIFEST_INVALID, or an SWR-shaped error with its wording."""
    return code == "MANIFEST_INVALID" or "fail to parse 'manifest.json'" in (message or "")


def is_attestation(entry: dict) -> bool:
    platform = entry.get("platform") or {}
    kind = (entry.get("annotations") or {}).get("vnd.docker.reference.type")
    return kind == "attestation-manifest" or (platform.get("os") == "unknown"
                                              and platform.get("architecture") == "unknown")


def _descriptor(desc: dict, media_type: str) -> dict:
    out = {"mediaType": media_type, "size": desc.get("size"), "digest": desc.get("digest")}
    if desc.get("urls"):
        out["urls"] = desc["urls"]
    return out


def docker_manifest(body: bytes) -> bytes:
    """A Docker image manifest with the same config and layers (a Docker one comes back unchanged)."""
    doc = _load(body)
    media_type = doc.get("mediaType") or (OCI_MANIFEST if "config" in doc else "")
    if media_type == DOCKER_MANIFEST:
        return body
    if media_type != OCI_MANIFEST:
        raise ConversionError(f"a {media_type or 'manifest without mediaType'} is not an image manifest")
    config = doc.get("config") or {}
    if config.get("mediaType") not in (OCI_CONFIG, DOCKER_CONFIG):
        raise ConversionError(f"config type {config.get('mediaType')!r} is not an image config (an OCI artifact "
                              "has no Docker form)")
    layers = []
    for layer in doc.get("layers") or []:
        kind = LAYER_TYPES.get(layer.get("mediaType"))
        if kind is None:
            raise ConversionError(f"layer type {layer.get('mediaType')!r} has no Docker schema 2 equivalent")
        layers.append(_descriptor(layer, kind))
    return _dump({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": _descriptor(config, DOCKER_CONFIG),
                  "layers": layers})


def docker_list(index_body: bytes, read_child: Callable[[str], bytes]) -> Converted:
    """The index as a Docker manifest list over converted platform manifests; `read_child(digest)` gives
    a member's bytes (from the source, or read back from SWR)."""
    doc = _load(index_body)
    entries, children, dropped = [], [], 0
    for entry in doc.get("manifests") or []:
        if not isinstance(entry, dict) or is_attestation(entry):
            dropped += 1
            continue
        if entry.get("mediaType") in (OCI_INDEX, DOCKER_LIST):
            raise ConversionError(f"nested index {entry.get('digest')} cannot be converted")
        body = read_child(entry["digest"])
        if sha256_digest(body) != entry["digest"]:
            raise ConversionError(f"member {entry['digest']} came back with digest {sha256_digest(body)}")
        converted = docker_manifest(body)
        children.append(converted)
        platform = {k: v for k, v in (entry.get("platform") or {}).items() if k in PLATFORM_KEYS}
        entries.append({"mediaType": DOCKER_MANIFEST, "size": len(converted), "digest": sha256_digest(converted),
                        "platform": platform})
    if not entries:
        raise ConversionError("the index holds no image for any platform (only attestations)")
    body = _dump({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries})
    return Converted(body, DOCKER_LIST, children, dropped)


def convert(body: bytes, media_type: str, read_child: Callable[[str], bytes]) -> Converted:
    """An image in Docker schema 2: an OCI index becomes a list, an OCI manifest a Docker one; Docker
    manifests and lists come back as they are."""
    if media_type == OCI_INDEX:
        return docker_list(body, read_child)
    if media_type == OCI_MANIFEST:
        return Converted(docker_manifest(body), DOCKER_MANIFEST)
    return Converted(body, media_type)
