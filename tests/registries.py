"""Plain docker-registry processes (no auth) for tests that need a source registry, e.g. Harbor's own."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from adapter.sandbox.registry import RegistryProcess, free_port, registry_config


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
