"""docker-registry processes for tests that need a source registry (e.g. Harbor's own): plain, or on HTTPS
with a self-signed certificate."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from adapter.sandbox.front import Strictness
from adapter.sandbox.registry import RegistryProcess, free_port, registry_config
from tests.tls import self_signed


@contextmanager
def plain_registry(root: Path):
    """A docker-registry on 127.0.0.1 with storage under `root`; yields the RegistryProcess (`.url`)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = RegistryProcess(root / "registry.yml", root / "registry.log", port)
    process.start(registry_config(port=port, storage=root / "data"))
    try:
        yield process
    finally:
        process.stop()


class TlsRegistryProcess(RegistryProcess):
    """A docker-registry serving HTTPS; `cert` is its self-signed certificate (also its own CA)."""

    cert: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def tls_registry(root: Path, htpasswd: str | None = None):
    """A docker-registry on https://127.0.0.1 with a self-signed certificate, storage under `root`, and
    Basic authentication when `htpasswd` (file content) is given; yields the TlsRegistryProcess."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(root)
    port = free_port()
    config = registry_config(port=port, storage=root / "data")
    config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
    if htpasswd:
        (root / "htpasswd").write_text(htpasswd)
        config["auth"] = {"htpasswd": {"realm": "tls-source", "path": str(root / "htpasswd")}}
    process = TlsRegistryProcess(root / "registry.yml", root / "registry.log", port)
    process.cert, process.verify = cert, str(cert)
    process.start(config)
    try:
        yield process
    finally:
        process.stop()


# SWR's checks, all on, for the sandboxes tests start. The request rate is raised from SWR's 20/s: many
# tests push with skopeo, which gives up on a 503, into a sandbox they share. The rate tests start their own.
TEST_STRICT = Strictness(push_rate=500.0)
# docker-registry itself on the registry address, for tests that kill SWR's registry process mid-request.
DIRECT = Strictness(refuse_oci_index=False, max_layer_size=None, push_rate=None, api_on_registry=False,
                    max_concurrent_layers=None, blacklist_logins=None, check_names=False)
