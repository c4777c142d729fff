"""OCI image layout directories as sources (`oci:PATH[:tags]`): index.json, blobs/<alg>/<hex>."""

from __future__ import annotations

import json
from pathlib import Path

from adapter.sync.errors import CopyError, InputError

REF_NAME = "org.opencontainers.image.ref.name"


class Layout:
    """Reads one layout; the `repo` arguments are there to match Remote and are ignored."""

    host = "oci"

    def __init__(self, path: str, where: str = ""):
        self.root = Path(path)
        if not (self.root / "oci-layout").is_file() or not (self.root / "index.json").is_file():
            raise InputError(where or f"oci:{path}", f"{path} is not an OCI image layout "
                                                     "(no oci-layout or index.json)")
        try:
            self.index = json.loads((self.root / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError(where or f"oci:{path}", f"{path}/index.json cannot be read: {exc}") from None

    def _descriptors(self) -> list[dict]:
        return [m for m in self.index.get("manifests") or [] if isinstance(m, dict)]

    def tags(self, repo: str) -> list[str]:
        names = [m.get("annotations", {}).get(REF_NAME) for m in self._descriptors()]
        return list(dict.fromkeys(n for n in names if n))

    def _path(self, digest: str) -> Path:
        algorithm, _, hexpart = digest.partition(":")
        if not hexpart or "/" in digest or ".." in digest:
            raise CopyError(f"oci:{self.root}: bad digest {digest!r}")
        return self.root / "blobs" / algorithm / hexpart

    def _resolve(self, ref: str) -> tuple[str, str]:
        if ":" in ref:
            return ref, ""
        found = [m for m in self._descriptors() if m.get("annotations", {}).get(REF_NAME) == ref]
        if not found:
            raise CopyError(f"oci:{self.root}: no manifest is tagged {ref!r}")
        return found[-1]["digest"], found[-1].get("mediaType", "")

    def manifest(self, repo: str, ref: str, unless: str | None = None) -> tuple[bytes, str] | None:
        """As a registry reads it; with `unless`, None when `ref` is that digest (a conditional read)."""
        ref, media_type = self._resolve(ref)
        if unless and ref == unless:
            return None
        try:
            body = self._path(ref).read_bytes()
        except OSError as exc:
            raise CopyError(f"oci:{self.root}: manifest {ref} cannot be read: {exc.strerror}") from None
        return body, media_type

    def open_blob(self, repo: str, digest: str):
        try:
            return open(self._path(digest), "rb")
        except OSError as exc:
            raise CopyError(f"oci:{self.root}: blob {digest} cannot be read: {exc.strerror}") from None
