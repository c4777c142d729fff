"""Harbor pushes a buildx-style OCI index (2 platforms + an attestation) with its exact sequence; SWR refuses
OCI indexes (swr.md §6.3), so the endpoint stores it as a Docker manifest list over the same blobs, or,
with manifests.oci_index: refuse, tells Harbor why and how to fix it."""

from __future__ import annotations

import json

import pytest

from tests import images
from tests.contract.conftest import unique
from tests.contract.test_harbor_push_sequence import MODES, push_once, summary
from tests.harbor_push import DOCKER_REGISTRY
from tests.integration.endpoint import Endpoint

PLATFORMS = (("linux", "amd64"), ("linux", "arm64"))


def _host(sandbox) -> str:
    return sandbox.registry_url.removeprefix("http://")


@pytest.mark.parametrize("mode", MODES)
def test_oci_index_with_attestation_lands_as_a_docker_manifest_list(sandbox, endpoint, tenant, direct, tmp_path,
                                                                     mode):
    image = images.build_index(tmp_path / "idx", "idx", platforms=PLATFORMS, layers=2, attestation=True)
    org = unique()
    repo = f"{org}/multi"
    result, rec = push_once(endpoint, tenant, mode, image.layout, repo, ["idx"])
    assert result.ok, f"{result}\n{summary(rec)}\n{endpoint.log_text()[-3000:]}"
    puts = [(e.path.rsplit("/", 1)[1], e.status) for e in rec.select("manifest-put")]
    assert puts == [*((c.digest, 201) for c in image.children), ("idx", 201)]  # Harbor saw success

    stored = direct.manifest(repo, "idx")
    assert stored.status_code == 200 and stored.headers["Docker-Content-Digest"] != image.digest
    images.assert_converted(stored.content, image, lambda d: direct.manifest(repo, d).content)
    creds = f"{tenant.access_id}:{tenant.login_key}"
    for (_, arch), child in zip(PLATFORMS, image.children, strict=False):
        got = images.skopeo("inspect", "--tls-verify=false", "--creds", creds, "--override-arch", arch,
                            f"docker://{_host(sandbox)}/{repo}:idx")
        assert got.returncode == 0, got.stderr
        inspected = json.loads(got.stdout)
        assert inspected["Architecture"] == arch
        assert inspected["Layers"] == [layer["digest"] for layer in json.loads(child.manifest)["layers"]]
        for blob in child.blobs:
            assert direct.blob_digest(repo, blob["digest"]) == (blob["digest"], blob["size"])

    # Harbor's next run: the tag's digest differs from Harbor's, so it copies the tag again (override on).
    before = len(sandbox.front.rates.arrivals)
    again, rerun = push_once(endpoint, tenant, mode, image.layout, repo, ["idx"], override=True)
    assert again.ok and again["idx"].status == "copied", summary(rerun)
    assert not rerun.select(("blob-put", "chunk-put", "chunk-patch")), summary(rerun)  # no byte sent again
    assert direct.manifest(repo, "idx").content == stored.content  # the same conversion, the same digest
    at_swr = len(sandbox.front.rates.arrivals) - before
    print(f"re-run of a converted 2-platform index ({mode}): {len(list(rerun))} requests from Harbor, "
          f"{at_swr} at SWR's registry, 0 blob bytes")


def test_refuse_mode_tells_harbor_why_and_how_to_fix_it(sandbox, tenant, tmp_path):
    image = images.build_index(tmp_path / "idx", "idx", platforms=PLATFORMS, attestation=True)
    repo = f"{unique()}/refused"
    with Endpoint(tmp_path, sandbox, extra={"manifests": {"oci_index": "refuse"}}) as ep:
        result, _ = push_once(ep, tenant, DOCKER_REGISTRY, image.layout, repo, ["idx"])
    assert not result.ok and result["idx"].status == "failed"
    error = result["idx"].error
    assert "Invalid image, fail to parse 'manifest.json'" in error
    assert "manifests.oci_index: convert" in error and "--format v2s2" in error
