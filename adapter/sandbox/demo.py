"""Writes small images as OCI image layout directories: `swr-bridge sandbox demo-image DIR`, and the tests' images."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from adapter.transfer.oci import OCI_INDEX, OCI_MANIFEST, sha256_digest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def compact_json(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class OciLayout:
    """An OCI image layout directory (oci-layout, index.json, blobs/sha256/...); holds many tags."""

    def __init__(self, root):
        self.root = Path(root)
        (self.root / "blobs/sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (self.root / "index.json").exists():
            self._write_index([])

    def ref(self, tag: str) -> str:
        return f"oci:{self.root}:{tag}"

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs/sha256" / digest.split(":")[1]

    def add_blob(self, data: bytes, media_type: str) -> dict:
        digest = sha256_digest(data)
        self.blob_path(digest).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_json(self, doc: dict, media_type: str) -> tuple[dict, bytes]:
        data = compact_json(doc)
        return self.add_blob(data, media_type), data

    def add_manifest(self, doc: dict, media_type: str, tag: str | None) -> tuple[dict, bytes]:
        desc, data = self.add_json(doc, media_type)
        if tag:
            self.tag(desc, tag)
        return desc, data

    def tag(self, descriptor: dict, tag: str) -> None:
        entries = [m for m in self._read_index() if m.get("annotations", {}).get(REF_NAME) != tag]
        entries.append(dict(descriptor, annotations={REF_NAME: tag}))
        self._write_index(entries)

    def _read_index(self) -> list[dict]:
        return json.loads((self.root / "index.json").read_text())["manifests"]

    def _write_index(self, manifests: list[dict]) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        (self.root / "index.json").write_text(json.dumps(doc))


def file_tar(name: str, data: bytes) -> bytes:
    """An uncompressed tar holding one file (mtime 0, so the same content gives the same digest)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_config(diff_ids: list[str], os_name: str, arch: str, created_by: str) -> dict:
    return {"architecture": arch, "os": os_name, "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": [{"created_by": created_by}]}


def demo_image(root, tag: str = "v1", platform: tuple[str, str] = ("linux", "amd64")) -> tuple[str, str]:
    """A one-layer image (a text file) tagged `tag` in the layout at `root`: (skopeo reference, digest)."""
    layout = OciLayout(root)
    tar = file_tar("hello.txt", f"hello from swr-bridge ({tag})\n".encode())
    layer = layout.add_blob(gzip.compress(tar, mtime=0), OCI_LAYER_GZIP)
    config, _ = layout.add_json(image_config([sha256_digest(tar)], *platform, "swr-bridge sandbox demo-image"),
                                OCI_CONFIG)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    desc, _ = layout.add_manifest(doc, OCI_MANIFEST, tag)
    return layout.ref(tag), desc["digest"]
