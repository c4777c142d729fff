"""Multi-arch indexes (converted when SWR refuses them, or filtered by --arch/--os) and `swr-bridge copy SRC DST`."""

from __future__ import annotations

import json

import pytest
import requests

from adapter.sync.manifests import host_platform_filter
from tests import images
from tests.integration.sync.conftest import (
    aksk_auth,
    dest_digest,
    push_image,
    report_of,
    run_sync,
    sandbox_host,
    sync_files,
    unique,
    write,
)

PLATFORMS = (("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x"))


@pytest.fixture(scope="module")
def multi(plain_source, tmp_path_factory):
    """An OCI index over three platforms and a provenance attestation at team/multi:1.0 in the plain source."""
    index = images.build_index(tmp_path_factory.mktemp("index"), "1.0", platforms=PLATFORMS, attestation=True)
    push_image(index, f"{plain_source.host}/team/multi:1.0")
    return index


def _pulled(sandbox, repo: str, ref: str) -> dict:
    token = sandbox.token(None, f"repository:{repo}:pull")
    resp = requests.get(f"{sandbox.registry_url}/v2/{repo}/manifests/{ref}", timeout=10,
                        headers={"Authorization": f"Bearer {token}", "Accept": f"{images.OCI_INDEX}, {images.DOCKER_LIST}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _manifest(sandbox, repo: str, ref: str) -> bytes:
    token = sandbox.token(None, f"repository:{repo}:pull")
    resp = requests.get(f"{sandbox.registry_url}/v2/{repo}/manifests/{ref}", timeout=10, headers={
        "Authorization": f"Bearer {token}", "Accept": f"{images.DOCKER_LIST}, {images.DOCKER_MANIFEST}"})
    assert resp.status_code == 200, resp.text
    return resp.content


def test_an_index_swr_refuses_is_converted_to_a_docker_manifest_list(sandbox, plain_source, multi, tmp_path):
    org = unique("multi")
    rules = {f"{plain_source.host}/team/multi:1.0": f"{sandbox_host(sandbox)}/{org}/multi"}
    args = ("--auth", write(tmp_path / "auth.json", aksk_auth(sandbox)), "--images",
            write(tmp_path / "images.json", rules))
    result = run_sync("sync", *args, "-o", "json")
    report = report_of(result)
    assert result.returncode == 0 and report["copied"] == 1, result.stdout + result.stderr
    stored = _manifest(sandbox, f"{org}/multi", "1.0")
    images.assert_converted(stored, multi, lambda d: _manifest(sandbox, f"{org}/multi", d))
    converted = images.sha256_digest(stored)
    assert report["converted"] == [{"source": f"{plain_source.host}/team/multi:1.0", "attestations_dropped": 1,
                                    "destination": f"{sandbox_host(sandbox)}/{org}/multi:1.0", "digest": converted}]
    assert "converted to Docker schema 2, 1 attestation manifest(s) left out" in result.stderr
    creds = f"{sandbox.tenants[0].access_id}:{sandbox.tenants[0].login_key}"
    for (_, arch), child in zip(PLATFORMS, multi.children, strict=False):
        got = images.skopeo("inspect", "--tls-verify=false", "--creds", creds, "--override-arch", arch,
                            f"docker://{sandbox_host(sandbox)}/{org}/multi:1.0")
        assert got.returncode == 0 and json.loads(got.stdout)["Layers"] == [
            layer["digest"] for layer in json.loads(child.manifest)["layers"]], got.stderr

    text = run_sync("sync", *args)  # the converted image is found up to date; the text report says so
    assert text.returncode == 0 and text.stdout.startswith("copied 0, skipped 1"), text.stdout + text.stderr
    assert "up to date (as Docker schema 2)" in text.stderr


def test_format_oci_fails_and_says_what_to_do(sandbox, plain_source, multi, tmp_path):
    org = unique("ocionly")
    rules = {f"{plain_source.host}/team/multi:1.0": f"{sandbox_host(sandbox)}/{org}/multi"}
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "--format", "oci", "-o", "json")
    report = report_of(result)
    assert result.returncode == 1 and report["failed"] == 1 and report["converted"] == []
    reason = report["images"][0]["reason"]
    assert "400 MANIFEST_INVALID: Invalid image, fail to parse 'manifest.json'" in reason
    assert "SWR refuses OCI image indexes; --format auto, the default, or v2s2" in reason


def test_format_v2s2_converts_before_sending_and_leaves_attestations_behind(sandbox, plain_source, multi, tmp_path):
    org = unique("v2s2")
    single = images.build_image(tmp_path / "one", "1", layers=1)
    push_image(single, f"{plain_source.host}/team/single:1")
    rules = {f"{plain_source.host}/team/multi:1.0": f"{sandbox_host(sandbox)}/{org}/multi",
             f"{plain_source.host}/team/single:1": f"{sandbox_host(sandbox)}/{org}/single"}
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "--format", "v2s2", "-o", "json")
    report = report_of(result)
    assert result.returncode == 0 and report["copied"] == 2, result.stdout + result.stderr
    assert sorted(c["destination"].rsplit("/", 1)[1] for c in report["converted"]) == ["multi:1.0", "single:1"]
    images.assert_converted(_manifest(sandbox, f"{org}/multi", "1.0"), multi,
                            lambda d: _manifest(sandbox, f"{org}/multi", d))
    attestation = multi.children[-1]
    assert dest_digest(sandbox, f"{org}/multi", attestation.digest) is None  # never sent, nor its blobs
    token = sandbox.token(None, f"repository:{org}/multi:pull")
    statement = attestation.blobs[-1]["digest"]
    assert requests.head(f"{sandbox.registry_url}/v2/{org}/multi/blobs/{statement}", timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 404
    one = json.loads(_manifest(sandbox, f"{org}/single", "1"))
    assert one["mediaType"] == images.DOCKER_MANIFEST and one["config"]["digest"] == single.blobs[0]["digest"]


def test_a_layer_over_the_limit_fails_the_image_before_any_upload(sandbox, plain_source, tmp_path):
    org = unique("big")
    image = images.build_image(tmp_path / "big", "1", layers=1, layer_size=8192)
    push_image(image, f"{plain_source.host}/team/big:1")
    result = run_sync("copy", f"{plain_source.host}/team/big:1", f"{sandbox_host(sandbox)}/{org}/big:1",
                      "--auth", write(tmp_path / "auth.json", aksk_auth(sandbox)), "--max-layer-size", "4KiB",
                      "-o", "json")
    report = report_of(result)
    assert result.returncode == 1 and report["failed"] == 1 and report["blobs"]["uploaded"] == 0
    assert "over SWR's limit of 4.096 kB per layer" in report["images"][0]["reason"]
    token = sandbox.token(None, f"repository:{org}/big:pull")
    for blob in image.blobs:
        assert requests.head(f"{sandbox.registry_url}/v2/{org}/big/blobs/{blob['digest']}", timeout=10,
                             headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_arch_and_os_filters_rewrite_the_index(sandbox, plain_source, multi, tmp_path):
    org = unique("filtered")
    rules = {f"{plain_source.host}/team/multi:1.0": f"{sandbox_host(sandbox)}/{org}/multi"}
    args = ("--auth", write(tmp_path / "auth.json", aksk_auth(sandbox)),
            "--images", write(tmp_path / "images.yaml", rules), "-o", "json")
    result = run_sync("sync", *args, "--arch", "arm64,s390x", "--os", "linux")
    assert result.returncode == 0 and report_of(result)["copied"] == 1, result.stdout + result.stderr
    index = _pulled(sandbox, f"{org}/multi", "1.0")
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["arm64", "s390x"]
    assert dest_digest(sandbox, f"{org}/multi", "1.0") != multi.digest
    assert dest_digest(sandbox, f"{org}/multi", multi.children[0].digest) is None  # amd64 stayed behind

    again = report_of(run_sync("sync", *args, "--arch", "arm64", "--arch", "s390x"))
    assert (again["copied"], again["skipped"]) == (0, 1)  # the same filtered index: up to date

    nothing = report_of(run_sync("sync", *args, "--arch", "riscv64"))
    assert nothing["skipped"] == 1 and nothing["images"][0]["reason"] == "no manifest fits the platform filters"


def test_copy_takes_this_machines_platform_or_everything_with_all(sandbox, plain_source, multi, tmp_path):
    org = unique("copy")
    auth = write(tmp_path / "auth.json", aksk_auth(sandbox))
    dest = f"{sandbox_host(sandbox)}/{org}/multi"
    src = f"{plain_source.host}/team/multi:1.0"

    one = run_sync("copy", src, f"{dest}:host", "--auth", auth, "-o", "json")
    assert one.returncode == 0, one.stdout + one.stderr
    arch = host_platform_filter()[1][0]
    expected = next((c.digest for c, p in zip(multi.children, PLATFORMS, strict=False) if p[1] == arch), None)
    assert dest_digest(sandbox, f"{org}/multi", "host") == expected

    whole = run_sync("copy", "--all", src, f"{dest}:all", "--auth", auth)
    assert whole.returncode == 0 and whole.stdout.startswith("copied 1"), whole.stdout + whole.stderr
    stored = _manifest(sandbox, f"{org}/multi", "all")  # SWR refused the OCI index: converted
    images.assert_converted(stored, multi, lambda d: _manifest(sandbox, f"{org}/multi", d))
    assert f"converted {src} -> {dest}:all: Docker schema 2, new digest {images.sha256_digest(stored)}" in whole.stdout


def test_copy_by_digest_from_an_oci_layout_and_keep_the_tag(sandbox, plain_source, tmp_path):
    layout = tmp_path / "layout"
    image = images.build_image(layout, "2.1", layers=1)
    org = unique("copy")
    auth = write(tmp_path / "auth.yaml", aksk_auth(sandbox))
    from_disk = run_sync("copy", f"oci:{layout}:2.1", f"{sandbox_host(sandbox)}/{org}/disk", "--auth", auth)
    assert from_disk.returncode == 0, from_disk.stdout + from_disk.stderr
    assert dest_digest(sandbox, f"{org}/disk", "2.1") == image.digest

    push_image(image, f"{plain_source.host}/team/pinned:2.1")
    pinned = run_sync("copy", f"{plain_source.host}/team/pinned@{image.digest}",
                      f"{sandbox_host(sandbox)}/{org}/pinned:release", "--auth", auth, "-o", "json")
    report = report_of(pinned)
    assert pinned.returncode == 0 and report["copied"] == 1, pinned.stdout + pinned.stderr
    assert dest_digest(sandbox, f"{org}/pinned", "release") == image.digest
    assert json.loads(pinned.stdout)["images"][0]["digest"] == image.digest
