"""Small random test images written as OCI layout directories, and skopeo helpers to push them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from adapter.sandbox.demo import OCI_CONFIG, OCI_LAYER_GZIP, OciLayout, file_tar, image_config
from adapter.sandbox.demo import compact_json as _json
from adapter.transfer.oci import OCI_INDEX, OCI_MANIFEST, sha256_digest

OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MIB = 1024 * 1024


@dataclass
class Image:
    """What was written: the source reference for skopeo, the tag, and the top manifest with its digest."""

    layout: Path
    tag: str
    digest: str
    media_type: str
    manifest: bytes
    blobs: list[dict] = field(default_factory=list)
    children: list["Image"] = field(default_factory=list)
    ref: str = ""

    @property
    def oci_ref(self) -> str:
        """The skopeo source reference (`oci:DIR:tag`, or `dir:DIR` for Docker media types)."""
        return self.ref

    @property
    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.manifest)}


class DirLayout(OciLayout):
    """skopeo's `dir:` transport, which (unlike an OCI layout) keeps Docker media types; one image each."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "version").write_text("Directory Transport Version: 1.1\n")

    def ref(self, tag: str) -> str:
        return f"dir:{self.root}"

    def blob_path(self, digest: str) -> Path:
        return self.root / digest.split(":")[1]

    def add_manifest(self, doc: dict, media_type: str, tag: str | None) -> tuple[dict, bytes]:
        data = _json(doc)
        digest = sha256_digest(data)
        # The top manifest is manifest.json; list members are <hex>.manifest.json.
        name = "manifest.json" if tag else f"{digest.split(':')[1]}.manifest.json"
        (self.root / name).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}, data


def _layout(root, docker: bool) -> OciLayout:
    return DirLayout(root) if docker else OciLayout(root)


def _payload(size: int, rng: random.Random | None) -> bytes:
    return rng.randbytes(size) if rng else os.urandom(size)


def layer_tar(size: int, name: str, rng: random.Random | None = None) -> bytes:
    """An uncompressed tar holding one file of `size` random bytes."""
    return file_tar(name, _payload(size, rng))


def _config(diff_ids, os_name, arch) -> dict:
    return image_config(diff_ids, os_name, arch, "tests/images.py")


def build_image(root, tag: str | None = "latest", *, layers: int = 2, layer_size: int = 4096,
                platform=("linux", "amd64"), docker: bool = False, seed: int | None = None) -> Image:
    """A multi-layer image (gzip layers); `docker=True` writes Docker schema 2 into a `dir:` layout.

    With tag=None the manifest is written but not tagged (a member of an index / manifest list).
    """
    rng = random.Random(seed) if seed is not None else None
    layout = _layout(root, docker)
    layer_type = DOCKER_LAYER if docker else OCI_LAYER_GZIP
    descs, diff_ids = [], []
    for i in range(layers):
        tar = layer_tar(layer_size, f"layer{i}/data.bin", rng)
        diff_ids.append(sha256_digest(tar))
        descs.append(layout.add_blob(gzip.compress(tar, mtime=0), layer_type))
    config, _ = layout.add_json(_config(diff_ids, *platform), DOCKER_CONFIG if docker else OCI_CONFIG)
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    doc = {"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": descs}
    desc, data = layout.add_manifest(doc, media_type, tag)
    return Image(layout.root, tag or "", desc["digest"], media_type, data, [config, *descs],
                 ref=layout.ref(tag or ""))


def build_index(root, tag: str = "latest", *, platforms=(("linux", "amd64"), ("linux", "arm64")),
                docker: bool = False, layers: int = 1, layer_size: int = 2048, attestation: bool = False) -> Image:
    """An OCI image index (or, with docker=True, a Docker manifest list) over one image per platform;
    `attestation=True` adds a buildx-style provenance manifest for the first one (platform unknown/unknown).

    Push it with push(..., all_images=True) so the members travel too.
    """
    children = [build_image(root, None, layers=layers, layer_size=layer_size, platform=p, docker=docker)
                for p in platforms]
    layout = _layout(root, docker)
    media_type = DOCKER_LIST if docker else OCI_INDEX
    entries = [dict(c.descriptor, platform={"os": p[0], "architecture": p[1]})
               for c, p in zip(children, platforms, strict=True)]
    if attestation:
        proof = _attestation(layout, children[0])
        children.append(proof)
        entries.append(dict(proof.descriptor, platform={"os": "unknown", "architecture": "unknown"},
                            annotations={"vnd.docker.reference.digest": children[0].digest,
                                         "vnd.docker.reference.type": "attestation-manifest"}))
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    desc, data = layout.add_manifest(doc, media_type, tag)
    return Image(layout.root, tag, desc["digest"], media_type, data, [], children, ref=layout.ref(tag))


def _attestation(layout: OciLayout, subject: Image) -> Image:
    """What buildx pushes beside an image: an OCI manifest whose layer is an in-toto statement."""
    statement = layout.add_blob(_json({"_type": "https://in-toto.io/Statement/v0.1",
                                       "subject": [{"digest": {"sha256": subject.digest.split(":")[1]}}]}),
                                "application/vnd.in-toto+json")
    statement["annotations"] = {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
    config, _ = layout.add_json({"architecture": "unknown", "os": "unknown", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": [statement["digest"]]}}, OCI_CONFIG)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [statement]}
    desc, data = layout.add_manifest(doc, OCI_MANIFEST, None)
    return Image(layout.root, "", desc["digest"], OCI_MANIFEST, data, [config, statement])


def build_artifact(root, tag: str, subject: Image, *, artifact_type: str = "application/vnd.example.sbom.v1",
                   payload: bytes | None = None) -> Image:
    """An OCI 1.1 artifact (empty config, one payload layer) whose `subject` is another image."""
    layout = OciLayout(root)
    empty = layout.add_blob(b"{}", OCI_EMPTY)
    layer = layout.add_blob(payload if payload is not None else os.urandom(256), "application/octet-stream")
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
           "config": empty, "layers": [layer], "subject": subject.descriptor}
    desc, data = layout.add_manifest(doc, OCI_MANIFEST, tag)
    return Image(layout.root, tag, desc["digest"], OCI_MANIFEST, data, [empty, layer], ref=layout.ref(tag))


class _RandomReader(io.RawIOBase):
    """`size` random bytes, read in pieces, so big layers never sit whole in memory."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left, MIB)
        buf[:n] = os.urandom(n)
        self.left -= n
        return n


class _HashingFile(io.RawIOBase):
    def __init__(self, path: Path):
        self.fh, self.hash, self.size = open(path, "wb"), hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def close(self) -> None:
        self.fh.close()
        super().close()


def _streamed_layer(layout: OciLayout, size: int, name: str) -> dict:
    tmp = layout.root / "blobs" / f".{name.replace('/', '_')}.partial"
    out = _HashingFile(tmp)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = size, 0
        tar.addfile(info, io.BufferedReader(_RandomReader(size), MIB))
    out.close()
    digest = "sha256:" + out.hash.hexdigest()
    shutil.move(tmp, layout.blob_path(digest))
    return {"mediaType": OCI_LAYER_TAR, "digest": digest, "size": out.size}


def build_big_image(root, tag: str = "big", *, size_mib: int = 64, layers: int = 1) -> Image:
    """An image of `layers` uncompressed random layers totalling about `size_mib` MiB, written streaming."""
    layout = OciLayout(root)
    per_layer = size_mib * MIB // layers
    descs = [_streamed_layer(layout, per_layer, f"big{i}/data.bin") for i in range(layers)]
    config, _ = layout.add_json(_config([d["digest"] for d in descs], "linux", "amd64"), OCI_CONFIG)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": descs}
    desc, data = layout.add_manifest(doc, OCI_MANIFEST, tag)
    return Image(layout.root, tag, desc["digest"], OCI_MANIFEST, data, [config, *descs], ref=layout.ref(tag))


def skopeo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs skopeo (a missing binary raises, it never skips) and returns the finished process."""
    exe = shutil.which("skopeo")
    if exe is None:
        raise FileNotFoundError("skopeo not found on PATH (Debian package skopeo)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)


def push(image: Image, dest: str, creds: str | None = None, *, all_images: bool = True,
         extra=(), timeout: float = 300) -> subprocess.CompletedProcess:
    """skopeo copy of `image` to `dest` (host:port/repo:tag over plain HTTP), keeping digests."""
    args = ["copy", "--dest-tls-verify=false", "--preserve-digests"]
    args += ["--all"] if all_images else []
    args += ["--dest-creds", creds] if creds else []
    return skopeo(*args, *extra, image.oci_ref, f"docker://{dest}", timeout=timeout)


def inspect(ref: str, creds: str | None = None, *, raw: bool = False) -> subprocess.CompletedProcess:
    args = ["inspect", "--tls-verify=false"] + (["--raw"] if raw else [])
    args += ["--creds", creds] if creds else []
    return skopeo(*args, f"docker://{ref}")


def assert_converted(stored: bytes, index: Image, read) -> None:
    """`stored` is `index` as SWR keeps it after conversion: a Docker manifest list with one Docker image
    manifest per platform (attestations left out), each with its source's config and layer digests.
    `read(digest)` gives a stored manifest's bytes."""
    doc = json.loads(stored)
    assert doc["mediaType"] == DOCKER_LIST, doc
    wanted = [c for c in index.children if c.media_type == OCI_MANIFEST and _platform_of(index, c) != "unknown/unknown"]
    assert [m["platform"]["architecture"] for m in doc["manifests"]] == [_platform_of(index, c).split("/")[1]
                                                                          for c in wanted]
    for entry, child in zip(doc["manifests"], wanted, strict=True):
        assert entry["mediaType"] == DOCKER_MANIFEST
        body = read(entry["digest"])
        assert sha256_digest(body) == entry["digest"] and len(body) == entry["size"]
        got, source = json.loads(body), json.loads(child.manifest)
        assert got["mediaType"] == DOCKER_MANIFEST and got["config"]["mediaType"] == DOCKER_CONFIG
        assert got["config"]["digest"] == source["config"]["digest"]
        assert [x["digest"] for x in got["layers"]] == [x["digest"] for x in source["layers"]]
        assert {x["mediaType"] for x in got["layers"]} <= {DOCKER_LAYER}


def _platform_of(index: Image, child: Image) -> str:
    for entry in json.loads(index.manifest)["manifests"]:
        if entry["digest"] == child.digest:
            platform = entry.get("platform") or {}
            return f"{platform.get('os')}/{platform.get('architecture')}"
    raise AssertionError(f"{child.digest} is not in the index")
