"""Bad input to `sync` and `copy` exits 2 with a message that names the file, key or flag; no traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adapter.cli import main
from adapter.sandbox.registry import free_port

AK, SK = "ABCDEFGHIJKLMNOPQRST", "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
SRC = "127.0.0.1:5999/team/app"
DST = "127.0.0.1:5998/org/app"


def run(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def sync_with(tmp_path, images, auth=None, *extra, images_name="images.json", auth_name="auth.json", env=None):
    images_path = tmp_path / images_name
    images_path.write_text(images if isinstance(images, str) else json.dumps(images))
    args = ["sync", "--images", images_path]
    if auth is not None:
        auth_path = tmp_path / auth_name
        auth_path.write_text(auth if isinstance(auth, str) else json.dumps(auth))
        args += ["--auth", auth_path]
    return run(*args, *extra, env=env)


@pytest.mark.parametrize("images,expected", [
    ('{"a": ', "images.json: not valid JSON at line 1"),
    ("[1, 2]", "the top level must be a non-empty mapping"),
    ({}, "the top level must be a non-empty mapping"),
    ({SRC: 7}, "the destination must be a string or a non-empty list of strings"),
    ({"127.0.0.1:5999/Team/App": DST}, "key '127.0.0.1:5999/Team/App': repository 'Team/App'"),
    ({f"{SRC}:/[/": DST}, "tag regex /[/ is not a valid regular expression"),
    ({f"{SRC}:v1,bad tag": DST}, "tag 'bad tag' is not a valid tag"),
    ({f"{SRC}@sha256:abc": DST}, "digest 'sha256:abc' is not sha256:<64 hex>"),
    ({f"{SRC}@sha256:{'a' * 64}": f"{DST}@sha256:{'b' * 64}"}, "a destination digest must be the source's digest"),
    ({f"{SRC}:v1,v2": f"{DST}:one"}, "the destination names 1 tag(s) but the source selects 2"),
    ({SRC: f"{DST}:/x/"}, "a destination cannot select tags with a regex"),
    ({SRC: ""}, "names no registry host; write host/organization/repository or pass --registry"),
    ({SRC: "oci:/tmp/x"}, "an OCI layout (oci:PATH) can only be a source"),
    ({"oci:/nonexistent/layout": DST}, "/nonexistent/layout is not an OCI image layout"),
])
def test_bad_images_files(tmp_path, images, expected):
    result = sync_with(tmp_path, images)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_yaml_images_errors_name_the_line(tmp_path):
    result = sync_with(tmp_path, "a: [b\nc: d\n", images_name="images.yaml")
    assert result.exit_code == 2 and "images.yaml: not valid YAML at line" in result.output


def test_default_registry_needs_a_namespace_for_a_bare_repository(tmp_path):
    result = sync_with(tmp_path, {SRC: "app"}, None, "--registry", "127.0.0.1:5998")
    assert result.exit_code == 2 and "names no organization; write organization/repository or pass --namespace" \
        in result.output


def test_swr_naming_rules_apply_to_swr_destinations(tmp_path):
    auth = {"127.0.0.1:5998": {"access_key": AK, "secret_key": SK, "project": "eu-de"}}
    result = sync_with(tmp_path, {SRC: "127.0.0.1:5998/1org/app"}, auth)
    assert result.exit_code == 2 and "destination 127.0.0.1:5998/1org/app" in result.output
    assert "organization.start" in result.output
    # Not an SWR destination: only the OCI grammar applies, so the run starts (and fails: nothing listens).
    closed = f"127.0.0.1:{free_port()}"
    started = sync_with(tmp_path, {f"{closed}/team/app": f"{closed}/1org/app"}, auth, "--retries", "0")
    assert started.exit_code == 1 and f"{closed} registry is unreachable" in started.output


@pytest.mark.parametrize("auth,expected", [
    ({"127.0.0.1:5999": {"username": "u", "pasword": "p"}}, "key '127.0.0.1:5999'.pasword: unknown field; the fields are username, password, insecure"),
    ({"127.0.0.1:5999": {"username": "u"}}, "username and password go together"),
    ({"127.0.0.1:5999": "user:pw"}, 'each entry is "<host>[/<namespace>]": {username, password, insecure}'),
    ({"127.0.0.1:5999": {"insecure": "maybe"}}, ".insecure: must be true or false"),
    ({"127.0.0.1:5998": {"access_key": AK}}, "secret_key is missing"),
    ({"127.0.0.1:5998": {"access_key": AK, "secret_key": SK, "project": "eu-de", "api": "swr-api"}},
     ".api: 'swr-api' is not an http(s) URL"),
    ({"127.0.0.1:5998": {"access_key": AK, "secret_key": SK}}, "project is needed (e.g. eu-de)"),
    ({"127.0.0.1:5998": {"access_key": "lower", "secret_key": SK, "project": "eu-de"}},
     "AK part must be 16 to 64 upper-case letters or digits"),
    ({"127.0.0.1:5998": {"access_key": AK, "secret_key": "short", "project": "eu-de"}}, "secret is too short"),
    ({"127.0.0.1:5998": {"access_key": AK, "secret_key": SK, "username": "u", "password": "p"}},
     "give username/password or access_key/secret_key, not both"),
    ({"127.0.0.1:5999": {"username": "u", "password": "${SYNC_TEST_UNSET_VAR}"}},
     "key '127.0.0.1:5999'.password: environment variable SYNC_TEST_UNSET_VAR is not set"),
])
def test_bad_auth_files(tmp_path, auth, expected):
    """Under --strict; without it the unknown field, the lone username and the unset variable are warnings
    (test_sync_leniency.py)."""
    result = sync_with(tmp_path, {SRC: DST}, auth, "--strict")
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert SK not in result.output


def test_swr_host_names_its_project(tmp_path):
    """An AK/SK entry for swr.<region>.otc.t-systems.com needs no project: the region is its default."""
    auth = {"swr.eu-nl.otc.t-systems.com": {"access_key": AK, "secret_key": SK}}
    result = sync_with(tmp_path, {SRC: "swr.eu-nl.otc.t-systems.com/Bad/app"}, auth)
    assert result.exit_code == 2 and "repository 'Bad/app'" in result.output  # got past the auth file


@pytest.mark.parametrize("flags,expected", [
    (["--bandwidth", "fast"], "Invalid value for '--bandwidth': invalid bandwidth 'fast'"),
    (["--proc", "0"], "Invalid value for '-p' / '--proc'"),
    (["-r", "-1"], "Invalid value for '-r' / '--retries'"),
    (["-o", "xml"], "Invalid value for '-o' / '--output'"),
    (["--log", "/nonexistent/dir/log"], "--log /nonexistent/dir/log: No such file or directory"),
    # Found by the input audit: an OverflowError traceback, and budgets of infinite or sub-byte rates.
    (["--max-layer-size", "9" * 400], "Invalid value for '--max-layer-size': size '9999"),
    (["--bandwidth", "9" * 400 + "GiB/s"], "the most Harbor's speed (an int32) holds"),
    (["--bandwidth", "1bit/s"], "under 1 B/s"),
])
def test_bad_flags(tmp_path, flags, expected):
    result = sync_with(tmp_path, {SRC: DST}, None, *flags)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_missing_images_flag_and_unreadable_files(tmp_path):
    assert run("sync").exit_code == 2
    result = run("sync", "--images", tmp_path / "nope.json")
    assert result.exit_code == 2 and "nope.json: cannot read the file: No such file or directory" in result.output


def test_a_bad_endpoint_config_names_it(tmp_path):
    config = tmp_path / "bridge.yaml"
    config.write_text("mapping:\n  - match: 'a/**'\n    namespace: x\n    flatten: 9\n")
    result = sync_with(tmp_path, {SRC: DST}, None, "--bridge-config", config)
    assert result.exit_code == 2 and "--bridge-config" in result.output and "mapping.0.flatten" in result.output


@pytest.mark.parametrize("args,expected", [
    (["127.0.0.1:5999/team/app:v1", "org/app"], "DST: 'org/app' needs a registry host"),
    (["127.0.0.1:5999/team/app:/v.*/", DST], "SRC: a destination cannot select tags with a regex"),
    (["127.0.0.1:5999/team/app:v1", "oci:/tmp/layout"], "DST: an OCI layout (oci:PATH) can only be a source"),
    # Was a copy that failed (exit 1) with the 10 000-character name in every line.
    (["127.0.0.1:5999/team/app:v1", "127.0.0.1:5998/" + "a" * 10_000], "is 10000 characters; the OCI limit is 255"),
])
def test_bad_copy_references(args, expected):
    result = run("copy", *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("f.yaml", b"a/b: \xff\n", "not UTF-8 text (byte 0xff at offset 5)"),
    ("f.json", b"\xfe{}", "not UTF-8 text (byte 0xfe at offset 0)"),
    ("f.yaml", b"a: " + b"[" * 5000 + b"]" * 5000, "not valid YAML: nested too deeply"),
    ("f.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # --bridge-config reads JSON as YAML
    ("f.json", b'{"copied": ' + b"9" * 5000 + b"}", "4300 digits"),
    ("f.yaml", b"a/b: 2026-13-45\n", "not valid YAML: a value cannot be read (month must be in 1..12)"),
    ("f.yaml", LAUGHS.encode(), "a YAML bomb"),
    ("f.yaml", b"a: &a [*a]\n", "an alias inside its own anchor"),
])
@pytest.mark.parametrize("flag", ["--images", "--auth", "--config", "--bridge-config", "report"])
def test_every_file_sync_reads_refuses_one_that_is_no_text_or_too_deep(tmp_path, name, content, reason, flag):
    # Each was a traceback (UnicodeDecodeError, RecursionError, ValueError) or a walk over 387 million nodes.
    bad = tmp_path / name
    bad.write_bytes(content)
    images = tmp_path / "images.json"
    images.write_text(json.dumps({SRC: DST}))
    args = {"--images": ["--images", bad], "--auth": ["--auth", bad, "--images", images],
            "--config": ["--config", bad], "--bridge-config": ["--bridge-config", bad, "--images", images],
            "report": ["report", bad]}[flag]
    result = run("sync", *args)
    assert result.exit_code == 2, result.output
    assert f"{bad}" in result.output and reason in result.output and len(result.output) < 600
