"""An image-syncer user's files and command line, as they are: image-syncer's example auth and images
files (README shapes, JSON and YAML) with local hosts, a self-signed HTTPS source marked `insecure: true`,
the sandbox as destination with the `<project>@<AK>` + login-key form, and the short flags.

image-syncer's examples (examples/auth.yaml, examples/images.yaml) read
    quay.io: {username: xxx, password: xxxxxxxxx, insecure: true}
    quay.io/coreos: {username: abc, password: xxxxxxxxx, insecure: true}
    quay.io/coreos/kube-rbac-proxy:v1.0,v2.0: quay.io/ruohe/kube-rbac-proxy
    quay.io/coreos/kube-rbac-proxy:v1.1: [quay.io/ruohe/kube-rbac-proxy1, quay.io/ruohe/kube-rbac-proxy2]
    quay.io/coreos/kube-rbac-proxy:/a+/: quay.io/ruohe/kube-rbac-proxy
Here quay.io is the TLS docker-registry, quay.io/ruohe an organization of the sandbox.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests import images
from tests.integration.sync.conftest import (
    SOURCE_HTPASSWD,
    SOURCE_PASSWORD,
    SOURCE_USER,
    dest_digest,
    push_image,
    push_images,
    run_sync,
    sandbox_host,
    unique,
    write,
)
from tests.registries import tls_registry

CREDS = f"{SOURCE_USER}:{SOURCE_PASSWORD}"
SCHEME_LINE = "insecure: HTTPS without certificate verification"


@pytest.fixture(scope="module")
def tls_source(tmp_path_factory):
    """A docker-registry on HTTPS with a self-signed certificate and Basic auth (SOURCE_USER)."""
    with tls_registry(tmp_path_factory.mktemp("tls-source"), SOURCE_HTPASSWD) as process:
        yield process


@pytest.fixture(scope="module")
def kube(tls_source, tmp_path_factory):
    """coreos/kube-rbac-proxy:{v1.0, v1.1, v2.0, aa} and coreos/base:{1, 2} in the TLS source; tag -> digest."""
    refs = [*(f"coreos/kube-rbac-proxy:{tag}" for tag in ("v1.0", "v1.1", "v2.0", "aa")), "coreos/base:1", "coreos/base:2"]
    return push_images(tls_source, tmp_path_factory, refs, CREDS, layers=2)


def _auth(sandbox, tls_source) -> dict:
    """image-syncer's shape: the source as quay.io (`insecure: true`) and a namespace key that is longer;
    the sandbox with a tenant's `<project>@<AK>` and login key (organizations are made through /dockyard on
    the registry host, as on SWR)."""
    tenant = sandbox.tenants[0]
    return {
        tls_source.host: {"username": SOURCE_USER, "password": SOURCE_PASSWORD, "insecure": True},
        f"{tls_source.host}/coreos": {"username": SOURCE_USER, "password": SOURCE_PASSWORD, "insecure": True},
        sandbox_host(sandbox): {"username": tenant.access_id, "password": tenant.login_key},
    }


def _images(src: str, dst: str, org: str, org2: str) -> dict:
    return {
        f"{src}/coreos/kube-rbac-proxy:v1.0,v2.0": f"{dst}/{org}/kube-rbac-proxy",  # a tag list
        f"{src}/coreos/kube-rbac-proxy:v1.1": [f"{dst}/{org}/kube-rbac-proxy1",  # two destinations
                                               f"{dst}/{org2}/kube-rbac-proxy2"],
        f"{src}/coreos/kube-rbac-proxy:/a+/": f"{dst}/{org}/kube-rbac-proxy",  # a regex: only `aa`
        f"{src}/coreos/base": "",  # all tags, into --registry/--namespace
    }


def _expected(org: str, org2: str) -> dict:
    """(destination repository, tag) -> source key in `kube`."""
    return {(f"{org}/kube-rbac-proxy", "v1.0"): "coreos/kube-rbac-proxy:v1.0",
            (f"{org}/kube-rbac-proxy", "v2.0"): "coreos/kube-rbac-proxy:v2.0",
            (f"{org}/kube-rbac-proxy1", "v1.1"): "coreos/kube-rbac-proxy:v1.1",
            (f"{org2}/kube-rbac-proxy2", "v1.1"): "coreos/kube-rbac-proxy:v1.1",
            (f"{org}/kube-rbac-proxy", "aa"): "coreos/kube-rbac-proxy:aa",
            (f"{org}/base", "1"): "coreos/base:1",
            (f"{org}/base", "2"): "coreos/base:2"}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_image_syncer_files_and_short_flags_from_a_self_signed_source(sandbox, tls_source, kube, tmp_path, fmt):
    org, org2 = unique("ruohe"), unique("ruohe")
    host = sandbox_host(sandbox)
    auth = write(tmp_path / f"auth.{fmt}", _auth(sandbox, tls_source))
    rules = write(tmp_path / f"images.{fmt}", _images(tls_source.host, host, org, org2))
    success = tmp_path / f"success.{fmt}"
    flags = ["--registry", host, "--namespace", org]

    first = run_sync("sync", "--auth", auth, "--images", rules, "-p", "4", "-r", "2", *flags,
                     "--output-success-images", success, "--output-images-format", fmt)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("copied 7, skipped 0, failed 0"), first.stdout
    # The scheme is said once for the registry, however many rules and workers use it.
    assert first.stderr.count(f"{tls_source.host}: {SCHEME_LINE}") == 1, first.stderr
    tenant = sandbox.tenants[0]
    for (repo, tag), source in _expected(org, org2).items():
        assert dest_digest(sandbox, repo, tag, tenant) == kube[source], (repo, tag)
    assert dest_digest(sandbox, f"{org}/kube-rbac-proxy", "v1.1", tenant) is None  # not in the tag list or regex

    written = (json.loads if fmt == "json" else yaml.safe_load)(success.read_text())
    assert written[f"{tls_source.host}/coreos/kube-rbac-proxy:v1.1"] == [
        f"{host}/{org}/kube-rbac-proxy1:v1.1", f"{host}/{org2}/kube-rbac-proxy2:v1.1"]
    assert sum(1 if isinstance(d, str) else len(d) for d in written.values()) == 7

    again = run_sync("sync", "--auth", auth, "--images", success, "-p", "4", "-r", "2")
    assert again.returncode == 0 and again.stdout.startswith("copied 0, skipped 7, failed 0"), \
        again.stdout + again.stderr

    forced = run_sync("sync", "--auth", auth, "--images", success, "-p", "4", "--force")
    assert forced.returncode == 0 and forced.stdout.startswith("copied 7, skipped 0, failed 0"), \
        forced.stdout + forced.stderr
    assert "0 uploaded" in forced.stdout  # the blobs are there: --force puts the manifests again
    for (repo, tag), source in _expected(org, org2).items():
        assert dest_digest(sandbox, repo, tag, tenant) == kube[source], (repo, tag)


def test_a_ca_bundle_verifies_the_source_and_without_either_the_message_says_what_to_do(sandbox, tls_source, kube,
                                                                                     tmp_path):
    org = unique("verified")
    host = sandbox_host(sandbox)
    tenant = sandbox.tenants[0]
    dest = {host: {"username": tenant.access_id, "password": tenant.login_key}}
    rules = write(tmp_path / "images.yaml", {f"{tls_source.host}/coreos/base:1": f"{host}/{org}/base"})
    source = {"username": SOURCE_USER, "password": SOURCE_PASSWORD}

    refused = run_sync("sync", "--auth", write(tmp_path / "plain.yaml", {tls_source.host: source, **dest}),
                       "--images", rules, "-r", "0")
    # On loopback the default is plain HTTP, which an HTTPS registry answers with 400: the message says what to do.
    assert refused.returncode == 1 and "answered 400 to GET /v2/" in refused.stdout, refused.stdout
    assert "needs `insecure: true` (or a `ca_bundle`)" in refused.stdout

    auth = write(tmp_path / "auth.yaml", {tls_source.host: {**source, "ca_bundle": str(tls_source.cert)}, **dest})
    verified = run_sync("sync", "--auth", auth, "--images", rules)
    assert verified.returncode == 0 and verified.stdout.startswith("copied 1,"), verified.stdout + verified.stderr
    assert SCHEME_LINE not in verified.stderr
    assert dest_digest(sandbox, f"{org}/base", "1", tenant) == kube["coreos/base:1"]


def test_insecure_falls_back_to_plain_http(sandbox, plain_source, tmp_path):
    image = images.build_image(tmp_path / "img", "v1", layers=1)
    push_image(image, f"{plain_source.host}/team/plain:v1")
    org = unique("plainhttp")
    host = sandbox_host(sandbox)
    tenant = sandbox.tenants[0]
    auth = write(tmp_path / "auth.json", {
        plain_source.host: {"insecure": True},
        host: {"username": tenant.access_id, "password": tenant.login_key}})
    rules = write(tmp_path / "images.json", {f"{plain_source.host}/team/plain": f"{host}/{org}/plain"})
    result = run_sync("sync", "--auth", auth, "--images", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count(f"{plain_source.host}: insecure: plain HTTP") == 1, result.stderr
    assert dest_digest(sandbox, f"{org}/plain", "v1", tenant) == image.digest


def test_the_deprecated_single_config_file(sandbox, tls_source, kube, tmp_path):
    """image-syncer before 1.2: one --config file with `auth` and `images`; read, with a warning."""
    org = unique("oldconf")
    host = sandbox_host(sandbox)
    config = write(tmp_path / "config.json", {"auth": _auth(sandbox, tls_source),
                                              "images": {f"{tls_source.host}/coreos/base:2": f"{host}/{org}/base"}})
    result = run_sync("sync", f"--config={config}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: --config" in result.stderr and "deprecated" in result.stderr
    assert dest_digest(sandbox, f"{org}/base", "2", sandbox.tenants[0]) == kube["coreos/base:2"]
