"""References (image-syncer's forms, OCI layouts, --registry/--namespace) and the auth/images files."""

from __future__ import annotations

import json

import pytest

from adapter.sync.errors import InputError
from adapter.sync.files import account_for, load_auth, load_images
from adapter.sync.references import Ref, fill_destination, pair_tags, parse

DIGEST = "sha256:" + "c" * 64
AK, SK = "ABCDEFGHIJKLMNOPQRST", "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
LOGIN_KEY = "75350cd86c753806d9ac6a72e65c26b919ed5697326f468dee9095af59d24aae"  # swr.md §1.1 vector


@pytest.mark.parametrize("text,expected", [
    ("quay.io/coreos/kube-rbac-proxy", Ref("quay.io", "coreos/kube-rbac-proxy")),
    ("quay.io/coreos/kube-rbac-proxy:v1.0", Ref("quay.io", "coreos/kube-rbac-proxy", tags=("v1.0",))),
    ("quay.io/coreos/kube-rbac-proxy:v1.0,v2.0", Ref("quay.io", "coreos/kube-rbac-proxy", tags=("v1.0", "v2.0"))),
    (f"quay.io/coreos/kube-rbac-proxy@{DIGEST}", Ref("quay.io", "coreos/kube-rbac-proxy", digest=DIGEST)),
    ("quay.io/coreos/kube-rbac-proxy:/a+/", Ref("quay.io", "coreos/kube-rbac-proxy", regex="a+")),
    ("127.0.0.1:5000/a/b/c:/^v[0-9]+/x$/", Ref("127.0.0.1:5000", "a/b/c", regex="^v[0-9]+/x$")),
    ("127.0.0.1:5000/app", Ref("127.0.0.1:5000", "app")),
    ("localhost/app:1", Ref("localhost", "app", tags=("1",))),
    ("nginx", Ref("docker.io", "library/nginx")),
    ("bitnami/redis:7", Ref("docker.io", "bitnami/redis", tags=("7",))),
    ("registry-1.docker.io/library/nginx", Ref("docker.io", "library/nginx")),
    ("oci:/data/layout", Ref("", "layout", layout="/data/layout")),
    ("oci:/data/my-layout:1.0,2.0", Ref("", "my-layout", tags=("1.0", "2.0"), layout="/data/my-layout")),
    ("oci:rel/dir:/^v/", Ref("", "dir", regex="^v", layout="rel/dir")),
])
def test_parse(text, expected):
    assert parse(text, "here") == expected


def test_ref_names_for_reports():
    assert parse("h.io/a/b", "x").at("v1") == "h.io/a/b:v1"
    assert parse("h.io/a/b", "x").at(DIGEST) == f"h.io/a/b@{DIGEST}"
    assert parse("oci:/d/l", "x").at("v1") == "oci:/d/l:v1"


@pytest.mark.parametrize("text,reason", [
    ("", "the image reference is empty"),
    ("h.io/A/b", "repository 'A/b': path component 'A'"),
    ("h.io/a//b", "path component ''"),
    ("h.io/a:-x", "tag '-x' is not a valid tag"),
    ("h.io/a@md5:abc", "digest 'md5:abc'"),
    ("h.io/a:/(/", "tag regex /(/"),
    ("oci:", "oci: needs a directory path"),
])
def test_parse_refuses_with_the_place(text, reason):
    with pytest.raises(InputError) as err:
        parse(text, "images.yaml: key 'k'")
    assert err.value.where == "images.yaml: key 'k'" and reason in err.value.reason


@pytest.mark.parametrize("dest,expected", [
    ("", "reg.io/ns/canary-consumer"),
    ("app", "reg.io/ns/app"),
    ("other/app:v9", "reg.io/other/app"),
    ("swr.eu-nl.otc.t-systems.com/dev-container/x", "swr.eu-nl.otc.t-systems.com/dev-container/x"),
])
def test_fill_destination(dest, expected):
    source = parse("swr.eu-de.otc.t-systems.com/org-ss/canary-consumer:v1", "k")
    assert fill_destination(dest, source, "reg.io", "ns", "k").name == expected


def test_fill_destination_keeps_the_tags_it_names_and_needs_flags():
    source = parse("h.io/a/b", "k")
    assert fill_destination("x/y:one,two", source, "reg.io", None, "k").tags == ("one", "two")
    with pytest.raises(InputError, match="--registry"):
        fill_destination("x/y", source, None, None, "k")
    with pytest.raises(InputError, match="--namespace"):
        fill_destination("", source, "reg.io", None, "k")


def test_pair_tags():
    assert pair_tags(["v1", "v2"], parse("h.io/a/b", "k"), "k") == [("v1", "v1"), ("v2", "v2")]
    assert pair_tags(["v1", "v2"], parse("h.io/a/b:x,y", "k"), "k") == [("v1", "x"), ("v2", "y")]
    assert pair_tags([DIGEST], parse("h.io/a/b:stable", "k"), "k") == [(DIGEST, "stable")]
    assert pair_tags([DIGEST], parse(f"h.io/a/b@{DIGEST}", "k"), "k") == [(DIGEST, DIGEST)]
    with pytest.raises(InputError, match="paired left to right"):
        pair_tags(["v1"], parse("h.io/a/b:x,y", "k"), "k")


def test_auth_accounts_json_and_yaml_longest_prefix_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_USER", "robot")
    (tmp_path / "auth.yaml").write_text(
        "quay.io:\n  username: ${SYNC_USER}\n  password: $SYNC_PASS_X\n  insecure: true\n"
        "quay.io/coreos:\n  username: abc\n  password: xyz\n")
    monkeypatch.setenv("SYNC_PASS_X", "s3cret")
    accounts = load_auth(tmp_path / "auth.yaml")
    assert account_for(accounts, "quay.io/other/app").creds == ("robot", "s3cret")
    assert account_for(accounts, "quay.io/other/app").insecure is True
    assert account_for(accounts, "quay.io/coreos/kube").creds == ("abc", "xyz")
    assert account_for(accounts, "quay.io/coreosx/kube").creds == ("robot", "s3cret")  # a path prefix, not a string one
    assert account_for(accounts, "ghcr.io/x/y") is None
    assert load_auth(None) == {}


def test_auth_aksk_entries_become_swr_logins(tmp_path):
    (tmp_path / "auth.json").write_text(json.dumps({
        "swr.eu-de.otc.t-systems.com": {"access_key": AK, "secret_key": SK},
        "127.0.0.1:5000": {"access_key": AK, "secret_key": SK, "project": "eu-nl_team", "api": "http://127.0.0.1:5001"},
        "swr.eu-nl.otc.t-systems.com": {"username": f"eu-nl@{AK}", "password": LOGIN_KEY},
        "swr.eu-nl.otc.t-systems.com/sk": {"username": f"eu-nl@{AK}", "password": SK},
        "ghcr.io": {"username": "someone@example.com", "password": "pw"},
    }))
    accounts = load_auth(tmp_path / "auth.json")
    swr = accounts["swr.eu-de.otc.t-systems.com"]
    assert swr.creds == (f"eu-de@{AK}", LOGIN_KEY)  # the login key derived from AK/SK
    assert swr.principal.sk == SK and swr.api == "https://swr-api.eu-de.otc.t-systems.com"
    local = accounts["127.0.0.1:5000"]
    assert local.username == f"eu-nl_team@{AK}" and local.api == "http://127.0.0.1:5001"
    login = accounts["swr.eu-nl.otc.t-systems.com"]
    assert login.principal is not None and login.principal.sk is None  # organizations through /dockyard
    with_sk = accounts["swr.eu-nl.otc.t-systems.com/sk"]  # an SK as the password: the login key is derived
    assert with_sk.creds == (f"eu-nl@{AK}", LOGIN_KEY) and with_sk.principal.sk == SK
    assert accounts["ghcr.io"].principal is None and accounts["ghcr.io"].creds == ("someone@example.com", "pw")
    assert SK not in repr(swr) and LOGIN_KEY not in repr(login)


def test_images_rules_keep_file_order_and_expand_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_DEST", "swr.eu-nl.otc.t-systems.com")
    (tmp_path / "images.yml").write_text(
        "quay.io/coreos/kube-rbac-proxy: quay.io/ruohe/kube-rbac-proxy\n"
        "quay.io/coreos/kube-rbac-proxy:v1.1:\n  - quay.io/ruohe/kube-rbac-proxy1\n  - ${SYNC_DEST}/x/y\n"
        "h.io/a/b:\n")
    rules = load_images(tmp_path / "images.yml")
    assert [r[0] for r in rules] == ["quay.io/coreos/kube-rbac-proxy", "quay.io/coreos/kube-rbac-proxy:v1.1",
                                     "h.io/a/b"]
    assert rules[1][1] == ["quay.io/ruohe/kube-rbac-proxy1", "swr.eu-nl.otc.t-systems.com/x/y"]
    assert rules[2][1] == [""] and rules[2][2] == f"{tmp_path / 'images.yml'}: key 'h.io/a/b'"


def test_the_readme_auth_file_example_loads(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Migrating without Harbor", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    for name, value in {"QUAY_TOKEN": "t0k3n", "OTC_AK": AK, "OTC_SK": SK}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "auth.yaml").write_text(block)
    accounts = load_auth(tmp_path / "auth.yaml")
    assert accounts["quay.io"].creds == ("robot", "t0k3n")
    assert accounts["swr.eu-de.otc.t-systems.com"].creds == (f"eu-de_myproject@{AK}", LOGIN_KEY)
