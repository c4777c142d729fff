"""End-to-end fixtures: a local registry seeded with images (Harbor's own) and a real Alertmanager."""

import pytest

from tests.images import build_image, build_index, push
from tests.registries import plain_registry

SEED = {"library/tools/app": ("v1", "v2"), "library/web": ("1.0",)}


@pytest.fixture(scope="module")
def harbor_registry(tmp_path_factory):
    """Harbor's local registry: a real docker-registry holding library/tools/app, library/web and an index."""
    root = tmp_path_factory.mktemp("harbor-registry")
    with plain_registry(root / "registry") as registry:
        host = registry.url.removeprefix("http://")
        digests = {}
        for repo, tags in SEED.items():
            for tag in tags:
                image = build_image(root / f"{repo.replace('/', '_')}-{tag}", tag, layers=3)
                result = push(image, f"{host}/{repo}:{tag}")
                assert result.returncode == 0, result.stderr
                digests[f"{repo}:{tag}"] = image.digest
        index = build_index(root / "multi", "multi", docker=True)
        assert push(index, f"{host}/library/multi:multi").returncode == 0
        digests["library/multi:multi"] = index.digest
        registry.digests = digests
        yield registry
