"""Multi-arch indexes (kept whole or filtered by --arch/--os) and `swr-bridge copy SRC DST`."""

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
    unique,
    write,
)

PLATFORMS = (("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x"))


@pytest.fixture(scope="module")
def multi(plain_source, tmp_path_factory):
    """An OCI index over three platforms at team/multi:1.0 in the plain source."""
    index = images.build_index(tmp_path_factory.mktemp("index"), "1.0", platforms=PLATFORMS)
    push_image(index, f"{plain_source.host}/team/multi:1.0")
    return index


def _pulled(sandbox, repo: str, ref: str) -> dict:
    token = sandbox.token(None, f"repository:{repo}:pull")
    resp = requests.get(f"{sandbox.registry_url}/v2/{repo}/manifests/{ref}", timeout=10,
                        headers={"Authorization": f"Bearer {token}", "Accept": images.OCI_INDEX})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_an_index_is_kept_whole_by_default(sandbox, plain_source, multi, tmp_path):
    org = unique("multi")
    rules = {f"{plain_source.host}/team/multi:1.0": f"{sandbox_host(sandbox)}/{org}/multi"}
    result = run_sync("sync", "--auth", write(tmp_path / "auth.json", aksk_auth(sandbox)),
                      "--images", write(tmp_path / "images.json", rules), "-o", "json")
    assert result.returncode == 0 and report_of(result)["copied"] == 1, result.stdout + result.stderr
    assert dest_digest(sandbox, f"{org}/multi", "1.0") == multi.digest  # byte-exact
    for child in multi.children:
        assert dest_digest(sandbox, f"{org}/multi", child.digest) == child.digest


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
    expected = next((c.digest for c, p in zip(multi.children, PLATFORMS, strict=True) if p[1] == arch), None)
    assert dest_digest(sandbox, f"{org}/multi", "host") == expected

    whole = run_sync("copy", "--all", src, f"{dest}:all", "--auth", auth)
    assert whole.returncode == 0 and whole.stdout.startswith("copied 1"), whole.stdout + whole.stderr
    assert dest_digest(sandbox, f"{org}/multi", "all") == multi.digest


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
