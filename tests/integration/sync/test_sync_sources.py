"""`swr-bridge sync` from real registries (no auth, Basic, token) and OCI layouts into the sandbox."""

from __future__ import annotations

import pytest

from tests import images
from tests.integration.sync.conftest import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    aksk_auth,
    dest_digest,
    manifest_digest,
    push_image,
    push_images,
    report_of,
    run_sync,
    sandbox_host,
    sync_files,
    unique,
    write,
)


@pytest.fixture(scope="module")
def plain_images(plain_source, tmp_path_factory):
    """team/app:v1,v2,v3 and team/tool:1.0 in the plain source; {ref: digest}."""
    refs = ["team/app:v1", "team/app:v2", "team/app:v3", "team/tool:1.0"]
    return push_images(plain_source, tmp_path_factory, refs, layers=2, layer_size=8192)


def test_all_tags_from_a_plain_registry_then_a_second_run_copies_nothing(sandbox, plain_source, plain_images,
                                                                          tmp_path):
    org = unique("plain")
    dest = sandbox_host(sandbox)
    auth = write(tmp_path / "auth.json", aksk_auth(sandbox))
    rules = write(tmp_path / "images.yaml", {f"{plain_source.host}/team/app": f"{dest}/{org}/app"})

    first = run_sync("sync", "--auth", auth, "--images", rules, "-o", "json")
    report = report_of(first)
    assert first.returncode == 0, first.stderr
    assert (report["copied"], report["skipped"], report["failed"]) == (3, 0, 0)
    assert report["blobs"]["uploaded"] >= 3 and report["bytes"] > 3 * 8192
    for tag in ("v1", "v2", "v3"):
        assert dest_digest(sandbox, f"{org}/app", tag) == plain_images[f"team/app:{tag}"]

    second = report_of(run_sync("sync", "--auth", auth, "--images", rules, "-o", "json"))
    assert (second["copied"], second["skipped"], second["failed"]) == (0, 3, 0)
    assert second["blobs"] == {"uploaded": 0, "mounted": 0, "existing": 0} and second["bytes"] == 0
    assert {i["reason"] for i in second["images"]} == {"up to date"}


def test_tag_list_regex_digest_and_renamed_tags(sandbox, plain_source, plain_images, tmp_path):
    org = unique("sel")
    src, dest = f"{plain_source.host}/team/app", f"{sandbox_host(sandbox)}/{org}"
    digest = plain_images["team/app:v2"]
    rules = {
        f"{src}:v1,v3": f"{dest}/listed",
        f"{src}:/^v[12]$/": f"{dest}/regex",
        f"{src}@{digest}": f"{dest}/pinned:stable",
        f"{src}:v1,v2": f"{dest}/renamed:one,two",
    }
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "-o", "json", auth_file="auth.yaml")
    report = report_of(result)
    assert result.returncode == 0 and report["copied"] == 7, result.stdout
    assert dest_digest(sandbox, f"{org}/listed", "v3") == plain_images["team/app:v3"]
    assert dest_digest(sandbox, f"{org}/listed", "v2") is None
    assert dest_digest(sandbox, f"{org}/regex", "v2") == plain_images["team/app:v2"]
    assert dest_digest(sandbox, f"{org}/regex", "v3") is None
    assert dest_digest(sandbox, f"{org}/pinned", "stable") == digest
    assert dest_digest(sandbox, f"{org}/renamed", "two") == plain_images["team/app:v2"]
    assert dest_digest(sandbox, f"{org}/renamed", "v2") is None


def test_one_source_to_several_destinations_mounts_instead_of_uploading(sandbox, plain_source, plain_images,
                                                                       tmp_path):
    orgs = [unique("fan"), unique("fan")]
    dest = sandbox_host(sandbox)
    rules = {f"{plain_source.host}/team/tool:1.0": [f"{dest}/{orgs[0]}/tool", f"{dest}/{orgs[1]}/tool"]}
    report = report_of(sync_files(tmp_path, aksk_auth(sandbox), rules, "-o", "json", images_file="images.yaml"))
    assert report["copied"] == 2
    # 3 blobs (config + 2 layers): uploaded once, then mounted into the second organization.
    assert report["blobs"] == {"uploaded": 3, "mounted": 3, "existing": 0}
    for org in orgs:
        assert dest_digest(sandbox, f"{org}/tool", "1.0") == plain_images["team/tool:1.0"]
        assert sandbox.state.owned(sandbox.tenants[0], org) is not None  # made by the sync


def test_basic_auth_source_with_credentials_from_the_environment(sandbox, basic_source, tmp_path):
    image = images.build_image(tmp_path / "img", "v1", layers=1)
    push_image(image, f"{basic_source.host}/secured/app:v1", f"{SOURCE_USER}:{SOURCE_PASSWORD}")
    org = unique("basic")
    auth = {basic_source.host: {"username": "${SRC_USER}", "password": "$SRC_PASSWORD"}, **aksk_auth(sandbox)}
    rules = {f"{basic_source.host}/secured/app": f"{sandbox_host(sandbox)}/{org}/app"}
    env = {"SRC_USER": SOURCE_USER, "SRC_PASSWORD": SOURCE_PASSWORD}
    ok = sync_files(tmp_path, auth, rules, "-o", "json", auth_file="auth.yaml", images_file="images.yaml", env=env)
    assert ok.returncode == 0 and report_of(ok)["copied"] == 1, ok.stdout + ok.stderr
    assert dest_digest(sandbox, f"{org}/app", "v1") == image.digest

    wrong = run_sync("sync", "--auth", tmp_path / "auth.yaml", "--images", tmp_path / "images.yaml", "-o", "json",
                     env={"SRC_USER": SOURCE_USER, "SRC_PASSWORD": "wrong"})
    assert wrong.returncode == 1
    failure = report_of(wrong)["images"][0]
    assert failure["status"] == "failed" and "401" in failure["reason"] and basic_source.host in failure["reason"]


def test_token_auth_source_is_another_sandbox_tenant(sandbox, tmp_path):
    """The sandbox as source too: tenant B's organization read with B's login, written with A's AK/SK."""
    src_org, dst_org = unique("tok"), unique("tok")
    tenant_b = sandbox.tenants[1]
    sandbox.create_organization(tenant_b, src_org)
    image = images.build_image(tmp_path / "img", "v7", layers=2)
    push_image(image, f"{sandbox_host(sandbox)}/{src_org}/svc:v7", f"{tenant_b.access_id}:{tenant_b.login_key}")
    host = sandbox_host(sandbox)
    auth = {f"{host}/{src_org}": {"username": tenant_b.access_id, "password": tenant_b.login_key},
            **aksk_auth(sandbox, key=f"{host}/{dst_org}")}
    rules = {f"{host}/{src_org}/svc:v7": f"{host}/{dst_org}/svc"}
    result = sync_files(tmp_path, auth, rules, "-o", "json")
    assert result.returncode == 0 and report_of(result)["copied"] == 1, result.stdout + result.stderr
    assert dest_digest(sandbox, f"{dst_org}/svc", "v7") == image.digest


def test_oci_layout_source(sandbox, tmp_path):
    layout = tmp_path / "layout"
    first = images.build_image(layout, "1.0", layers=2)
    second = images.build_image(layout, "2.0", layers=1)
    org = unique("oci")
    rules = {f"oci:{layout}": f"{sandbox_host(sandbox)}/{org}/from-disk"}
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "-o", "json", images_file="images.yaml")
    assert result.returncode == 0 and report_of(result)["copied"] == 2, result.stdout + result.stderr
    assert dest_digest(sandbox, f"{org}/from-disk", "1.0") == first.digest
    assert dest_digest(sandbox, f"{org}/from-disk", "2.0") == second.digest
    again = sync_files(tmp_path, aksk_auth(sandbox), rules, "-o", "json", images_file="images.yaml")
    assert (report_of(again)["copied"], report_of(again)["skipped"]) == (0, 2)


def test_a_plain_registry_can_also_be_the_destination(plain_source, plain_images, tmp_path):
    rules = {f"{plain_source.host}/team/tool:1.0": f"{plain_source.host}/mirror/tool"}
    result = run_sync("sync", "--images", write(tmp_path / "images.yaml", rules), "-o", "json")
    assert result.returncode == 0 and report_of(result)["copied"] == 1, result.stdout + result.stderr
    assert manifest_digest(plain_source.url, "mirror/tool", "1.0") == plain_images["team/tool:1.0"]


def _new_lines(path, offset: int) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        return [line for line in f.read().splitlines() if 'msg="response completed"' in line]


def _manifest_calls(lines: list[str]) -> list[tuple[str, str]]:
    """(method, status) of each manifest request in docker-registry's log lines."""
    def field(line, name):
        return line.split(f"{name}=", 1)[1].split(" ", 1)[0] if f"{name}=" in line else ""
    return [(field(line, "http.request.method"), field(line, "http.response.status")) for line in lines
            if "/manifests/" in field(line, "http.request.uri")]


def test_a_second_run_asks_swr_listing_and_the_source_conditionally(sandbox, plain_source, plain_images, tmp_path):
    """No manifest request reaches the destination registry, and the source answers each tag with a 304."""
    org = unique("noop")
    auth = write(tmp_path / "auth.json", aksk_auth(sandbox))
    rules = write(tmp_path / "images.yaml", {f"{plain_source.host}/team/app": f"{sandbox_host(sandbox)}/{org}/app"})
    assert report_of(run_sync("sync", "--auth", auth, "--images", rules, "-o", "json"))["copied"] == 3
    dest_log, src_log = sandbox.data_dir / "registry.log", plain_source.log_path
    marks = dest_log.stat().st_size, src_log.stat().st_size

    second = report_of(run_sync("sync", "--auth", auth, "--images", rules, "-o", "json"))
    assert (second["copied"], second["skipped"]) == (0, 3)
    assert _manifest_calls(_new_lines(dest_log, marks[0])) == []
    assert _manifest_calls(_new_lines(src_log, marks[1])) == [("GET", "304")] * 3

    marks = dest_log.stat().st_size, src_log.stat().st_size
    third = report_of(run_sync("sync", "--auth", auth, "--images", rules, "--no-swr-listing", "-o", "json"))
    assert (third["copied"], third["skipped"]) == (0, 3)
    assert _manifest_calls(_new_lines(dest_log, marks[0])) == [("HEAD", "200")] * 3
    assert _manifest_calls(_new_lines(src_log, marks[1])) == [("GET", "200")] * 3


def test_a_tag_moved_at_the_source_is_copied_again(sandbox, plain_source, tmp_path):
    repo, org = unique("moving"), unique("moved")
    old, new = (images.build_image(tmp_path / n, "v1", layers=1) for n in ("old", "new"))
    push_image(old, f"{plain_source.host}/{repo}:v1")
    auth = write(tmp_path / "auth.json", aksk_auth(sandbox))
    rules = write(tmp_path / "images.yaml", {f"{plain_source.host}/{repo}": f"{sandbox_host(sandbox)}/{org}/app"})
    assert report_of(run_sync("sync", "--auth", auth, "--images", rules, "-o", "json"))["copied"] == 1
    push_image(new, f"{plain_source.host}/{repo}:v1")
    again = report_of(run_sync("sync", "--auth", auth, "--images", rules, "-o", "json"))
    assert (again["copied"], again["skipped"]) == (1, 0)
    assert dest_digest(sandbox, f"{org}/app", "v1") == new.digest
