"""Where image-syncer is lenient, so is the sync, and it says so once; --strict refuses instead.

Each case runs the real command against real registries: the warning on stderr, the result in the
destination, and the same input under --strict (exit 2 for files and references, a failed image for a
schema 1 source).
"""

from __future__ import annotations

import json

import pytest
import requests

from adapter.sandbox.registry import RegistryProcess, free_port, registry_config
from tests import images
from tests.integration.sync.conftest import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    dest_digest,
    manifest_digest,
    push_image,
    sandbox_host,
    sync_files,
    unique,
)

SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def _dest(sandbox) -> dict:
    tenant = sandbox.tenants[0]
    return {sandbox_host(sandbox): {"username": tenant.access_id, "password": tenant.login_key}}


@pytest.fixture(scope="module")
def app(plain_source, basic_source, tmp_path_factory):
    """team/app:v1 in both sources (the plain one without auth, the other with Basic auth)."""
    image = images.build_image(tmp_path_factory.mktemp("img"), "v1", layers=1)
    push_image(image, f"{plain_source.host}/team/app:v1")
    push_image(image, f"{basic_source.host}/team/app:v1", f"{SOURCE_USER}:{SOURCE_PASSWORD}")
    return image


def _run(tmp_path, auth: dict, rules: dict, *flags, env=None):
    return sync_files(tmp_path, auth, rules, "-r", "0", *flags, auth_file="auth.yaml", images_file="images.yaml",
                      env=env)


def test_an_unset_variable_is_empty_with_one_warning(sandbox, basic_source, app, tmp_path):
    org = unique("envvar")
    # `${SYNC_PW}${SYNC_UNSET_SUFFIX}` is the password when the suffix is unset; it is used twice, warned once.
    auth = {basic_source.host: {"username": SOURCE_USER, "password": "${SYNC_PW}${SYNC_UNSET_SUFFIX}"},
            f"{basic_source.host}/team": {"username": SOURCE_USER, "password": "${SYNC_PW}${SYNC_UNSET_SUFFIX}"},
            **_dest(sandbox)}
    rules = {f"{basic_source.host}/team/app": f"{sandbox_host(sandbox)}/{org}/app"}
    env = {"SYNC_PW": SOURCE_PASSWORD}
    result = _run(tmp_path, auth, rules, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("environment variable SYNC_UNSET_SUFFIX is not set: it reads as an empty string") == 1
    assert dest_digest(sandbox, f"{org}/app", "v1") == app.digest

    strict = _run(tmp_path, auth, rules, "--strict", env=env)
    assert strict.returncode == 2
    assert "environment variable SYNC_UNSET_SUFFIX is not set (refused under --strict)" in strict.stderr


def test_unknown_fields_are_warned_and_ignored(sandbox, basic_source, app, tmp_path):
    org = unique("email")
    auth = {basic_source.host: {"username": SOURCE_USER, "password": SOURCE_PASSWORD, "email": "ops@example.com"},
            **_dest(sandbox)}
    rules = {f"{basic_source.host}/team/app": f"{sandbox_host(sandbox)}/{org}/app"}
    result = _run(tmp_path, auth, rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"key '{basic_source.host}'.email: unknown field, ignored" in result.stderr
    assert dest_digest(sandbox, f"{org}/app", "v1") == app.digest
    # A CI job that reads the JSON report gets the warnings there too.
    report = json.loads(_run(tmp_path, auth, rules, "-o", "json").stdout)
    assert report["warnings"] == [f"{tmp_path / 'auth.yaml'}: key '{basic_source.host}'.email: unknown field, "
                                  "ignored (as image-syncer ignores it)"]

    strict = _run(tmp_path, auth, rules, "--strict")
    assert strict.returncode == 2 and ".email: unknown field; the fields are" in strict.stderr


def test_half_a_credential_is_not_sent_as_image_syncer_does_not(sandbox, plain_source, basic_source, app, tmp_path):
    org = unique("half")
    auth = {plain_source.host: {"username": "robot"}, basic_source.host: {"username": SOURCE_USER},
            **_dest(sandbox)}
    rules = {f"{plain_source.host}/team/app": f"{sandbox_host(sandbox)}/{org}/app",
             f"{basic_source.host}/team/app": f"{sandbox_host(sandbox)}/{org}/basic"}
    result = _run(tmp_path, auth, rules)
    assert result.returncode == 1, result.stdout + result.stderr  # the Basic source refuses anonymous reads
    assert result.stderr.count("a username without a password: its registry is read anonymously") == 2
    assert dest_digest(sandbox, f"{org}/app", "v1") == app.digest  # the open source needed none
    assert f"failed {basic_source.host}/team/app" in result.stdout and "401" in result.stdout

    strict = _run(tmp_path, auth, rules, "--strict")
    assert strict.returncode == 2 and "username and password go together (refused under --strict)" in strict.stderr


def test_tag_at_digest_copies_the_digest_and_tags_it(sandbox, plain_source, app, tmp_path):
    org = unique("tagdigest")
    host = sandbox_host(sandbox)
    rules = {f"{plain_source.host}/team/app:v1@{app.digest}": [f"{host}/{org}/app", f"{host}/{org}/renamed:stable"]}
    result = _run(tmp_path, _dest(sandbox), rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("copied 2,"), result.stdout
    assert "the digest is copied and tagged 'v1' where the destination names no tag" in result.stderr
    assert dest_digest(sandbox, f"{org}/app", "v1") == app.digest
    assert dest_digest(sandbox, f"{org}/renamed", "stable") == app.digest

    strict = _run(tmp_path, _dest(sandbox), rules, "--strict")
    assert strict.returncode == 2 and "a reference has a tag and a digest (refused under --strict)" in strict.stderr


@pytest.fixture(scope="module")
def schema1_registry(tmp_path_factory):
    """A docker-registry that takes Docker schema 1 manifests (distribution's compatibility switch)."""
    root = tmp_path_factory.mktemp("schema1")
    port = free_port()
    config = registry_config(port=port, storage=root / "data")
    config["compatibility"] = {"schema1": {"enabled": True}}
    process = RegistryProcess(root / "registry.yml", root / "registry.log", port)
    process.start(config)
    process.host = f"127.0.0.1:{port}"
    yield process
    process.stop()


def test_a_schema1_source_is_copied_as_it_is_where_the_destination_takes_it(sandbox, schema1_registry, tmp_path):
    image = images.build_image(tmp_path / "img", "v1", layers=2, docker=True)
    converted = images.skopeo("copy", "--dest-tls-verify=false", "--format", "v2s1", image.oci_ref,
                              f"docker://{schema1_registry.host}/team/old:v1")
    assert converted.returncode == 0, converted.stderr
    source_digest = manifest_digest(schema1_registry.url, "team/old", "v1")
    resp = requests.get(f"{schema1_registry.url}/v2/team/old/manifests/v1", headers={"Accept": SCHEMA1}, timeout=10)
    assert resp.headers["Content-Type"] == SCHEMA1
    org = unique("schema1")
    host = sandbox_host(sandbox)
    rules = {f"{schema1_registry.host}/team/old:v1": [f"{schema1_registry.host}/copies/old",
                                                       f"{host}/{org}/old"]}
    result = _run(tmp_path, _dest(sandbox), rules)
    # The registry that takes schema 1 has it, byte for byte; the sandbox (SWR) refuses it, and the message
    # says how to convert the image first.
    assert result.returncode == 1, result.stdout + result.stderr
    assert manifest_digest(schema1_registry.url, "copies/old", "v1") == source_digest
    # Read once for both destinations, so warned once.
    assert result.stderr.count("team/old:v1: a Docker schema 1 manifest, copied unconverted") == 1, result.stderr
    assert f"copied     {schema1_registry.host}/team/old:v1 -> {schema1_registry.host}/copies/old:v1" in result.stderr
    assert "the destination does not take Docker schema 1 manifests" in result.stdout
    assert "SWR needs schema 2: convert it first, e.g. `skopeo copy --format v2s2" in result.stdout

    strict = _run(tmp_path, _dest(sandbox), {f"{schema1_registry.host}/team/old:v1": f"{host}/{org}/strict"},
                  "--strict")
    assert strict.returncode == 1 and "Docker schema 1 manifests are not supported" in strict.stdout
