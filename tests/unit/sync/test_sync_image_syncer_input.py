"""image-syncer's inputs as they are: auth keys normalised (Docker Hub aliases, longest prefix), the
lenient cases and their --strict refusals, repo:tag@digest, schema 1 manifests, the success file."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from adapter.cli import main
from adapter.sync import manifests
from adapter.sync.cli import _write_success
from adapter.sync.engine import Result
from adapter.sync.errors import CopyError, InputError, Leniency
from adapter.sync.files import account_for, auth_key, load_auth, load_config, load_images
from adapter.sync.references import pair_tags, parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("key,expected", [
    ("registry.hub.docker.com", "docker.io"),
    ("index.docker.io", "docker.io"),
    ("registry-1.docker.io", "docker.io"),
    ("https://index.docker.io/v1/", "docker.io"),
    ("Registry.Hub.Docker.com/MyOrg/", "docker.io/myorg"),
    ("quay.io/coreos", "quay.io/coreos"),
    ("http://127.0.0.1:5000", "127.0.0.1:5000"),
])
def test_auth_keys_are_normalised_as_references_are(key, expected):
    assert auth_key(key) == expected


def test_docker_hub_credentials_under_any_alias_match_hub_images(tmp_path):
    (tmp_path / "auth.json").write_text(json.dumps({
        "registry.hub.docker.com": {"username": "hubuser", "password": "hubpw"},  # image-syncer <= 1.4
        "index.docker.io/myorg": {"username": "orguser", "password": "orgpw"},
        "quay.io": {"username": "q", "password": "qpw"},
        "quay.io/coreos": {"username": "abc", "password": "xyz"},
    }))
    accounts = load_auth(tmp_path / "auth.json")
    nginx = parse("nginx:1.25", "k")  # docker.io/library/nginx
    assert account_for(accounts, f"{nginx.host}/{nginx.repository}").creds == ("hubuser", "hubpw")
    mine = parse("registry-1.docker.io/myorg/app", "k")
    assert account_for(accounts, f"{mine.host}/{mine.repository}").creds == ("orguser", "orgpw")
    # Longest prefix first, whatever the file's order: the namespace key wins inside its namespace.
    assert account_for(accounts, "quay.io/coreos/kube-rbac-proxy").creds == ("abc", "xyz")
    assert account_for(accounts, "quay.io/other/app").creds == ("q", "qpw")


def test_two_keys_for_one_registry_keep_the_first_with_a_warning(tmp_path):
    (tmp_path / "auth.yaml").write_text("docker.io:\n  username: a\n  password: b\n"
                                        "index.docker.io:\n  username: c\n  password: d\n")
    lenient = Leniency()
    accounts = load_auth(tmp_path / "auth.yaml", lenient)
    assert accounts["docker.io"].creds == ("a", "b")
    assert lenient.warnings == [f"{tmp_path / 'auth.yaml'}: key 'index.docker.io': names docker.io as key "
                                "'docker.io' does; that first one is used"]
    with pytest.raises(InputError, match="refused under --strict"):
        load_auth(tmp_path / "auth.yaml", Leniency(strict=True))


def test_leniency_warns_once_per_key_and_strict_refuses():
    lenient = Leniency()
    lenient.allow("a", "bad", "warned", key="x")
    lenient.allow("b", "bad", "warned again", key="x")
    assert lenient.warnings == ["a: warned"]
    with pytest.raises(InputError, match="^a: bad \\(refused under --strict\\)$"):
        Leniency(strict=True).allow("a", "bad", "warned")


def test_lenient_auth_file_results(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNC_UNIT_UNSET", raising=False)
    (tmp_path / "auth.yaml").write_text(
        "h.io:\n  username: u\n  password: p${SYNC_UNIT_UNSET}\n  email: me@example.com\n"
        "g.io:\n  username: only\n"
        "p.io:\n  password: ${SYNC_UNIT_UNSET}\n")
    lenient = Leniency()
    accounts = load_auth(tmp_path / "auth.yaml", lenient)
    assert accounts["h.io"].creds == ("u", "p")
    assert accounts["g.io"].creds is None and accounts["p.io"].creds is None  # anonymous, as image-syncer
    text = "\n".join(lenient.warnings)
    assert text.count("SYNC_UNIT_UNSET is not set") == 1
    assert "'h.io'.email: unknown field, ignored" in text
    assert "'g.io': a username without a password" in text and "'p.io': an empty username and password" in text


def test_insecure_and_ca_bundle(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "auth.json").write_text(json.dumps({"a.io": {"ca_bundle": str(ca)}, "b.io": {"insecure": True}}))
    accounts = load_auth(tmp_path / "auth.json")
    assert accounts["a.io"].ca_bundle == str(ca) and not accounts["a.io"].insecure
    assert accounts["b.io"].insecure and accounts["b.io"].creds is None
    for entry, reason in (({"ca_bundle": str(tmp_path / "none.pem")}, "is not a readable file"),
                          ({"ca_bundle": str(ca), "insecure": True}, "give insecure \\(no verification\\) or ca_bundle")):
        (tmp_path / "bad.json").write_text(json.dumps({"a.io": entry}))
        with pytest.raises(InputError, match=reason):
            load_auth(tmp_path / "bad.json")


def test_tag_at_digest_is_the_digest_tagged():
    lenient = Leniency()
    ref = parse(f"h.io/a/b:v1@{DIGEST}", "k", lenient=lenient)
    assert (ref.repository, ref.digest, ref.tags) == ("a/b", DIGEST, ("v1",))
    assert lenient.warnings == [f"k: v1@{DIGEST[:19]}...: the digest is copied and tagged 'v1' where the destination "
                                "names no tag"]
    assert parse(f"h.io:5000/a/b@{DIGEST}", "k").tags == ()  # a port is not a tag
    assert pair_tags([DIGEST], parse(f"h.io/x/y:v1@{DIGEST}", "k"), "k") == [(DIGEST, "v1")]
    with pytest.raises(InputError, match="a reference has a tag and a digest \\(refused under --strict\\)"):
        parse(f"h.io/a/b:v1@{DIGEST}", "k", lenient=Leniency(strict=True))


def test_schema1_manifests_load_only_when_allowed():
    body = json.dumps({"schemaVersion": 1, "name": "a/b", "tag": "v1",
                       "fsLayers": [{"blobSum": DIGEST}, {"blobSum": DIGEST}, {"blobSum": "sha256:" + "cd" * 32}],
                       "signatures": [{}]}).encode()
    with pytest.raises(CopyError, match="schema 1"):
        manifests.load(body, manifests.SCHEMA1[0], "old")
    found = manifests.load(body, manifests.SCHEMA1[0], "old", schema1=True)
    assert found.is_schema1 and found.media_type == manifests.SCHEMA1[0] and found.body == body
    assert found.blobs == [{"digest": DIGEST}, {"digest": "sha256:" + "cd" * 32}]  # each layer once, no size
    assert "SWR needs schema 2" in manifests.schema1_refused("h.io/a/b:v1", swr=True)
    assert "SWR" not in manifests.schema1_refused("h.io/a/b:v1", swr=False)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_the_success_file_is_an_images_file(tmp_path, fmt):
    results = [Result("h.io/a/b:v1", "d.io/o/b:v1", "copied"),
               Result("h.io/a/b:v1", "d.io/p/b:v1", "skipped", "up to date"),
               Result("h.io/a/c:v1", "d.io/o/c:v1", "failed", "boom"),
               Result("h.io/a/e:v1", "d.io/o/e:v1", "skipped", "no manifest fits the platform filters"),
               Result(f"h.io/a/d@{DIGEST}", "d.io/o/d:v2", "copied")]
    path = tmp_path / f"ok.{fmt}"
    _write_success(str(path), fmt, results)
    doc = (json.loads if fmt == "json" else yaml.safe_load)(path.read_text())
    assert doc == {"h.io/a/b:v1": ["d.io/o/b:v1", "d.io/p/b:v1"], f"h.io/a/d@{DIGEST}": "d.io/o/d:v2"}
    assert [r[:2] for r in load_images(path)] == [("h.io/a/b:v1", ["d.io/o/b:v1", "d.io/p/b:v1"]),
                                                  (f"h.io/a/d@{DIGEST}", ["d.io/o/d:v2"])]


def test_the_deprecated_config_file(tmp_path):
    (tmp_path / "config.yaml").write_text("auth:\n  quay.io:\n    username: u\n    password: p\n"
                                          "images:\n  quay.io/coreos/a: quay.io/ruohe/a\nlog: x\n")
    lenient = Leniency()
    accounts, rules = load_config(tmp_path / "config.yaml", lenient)
    assert accounts["quay.io"].creds == ("u", "p") and rules[0][:2] == ("quay.io/coreos/a", ["quay.io/ruohe/a"])
    assert "key 'log': unknown field, ignored" in lenient.warnings[0]
    (tmp_path / "bridge.yaml").write_text("mapping: []\n")
    with pytest.raises(InputError, match="goes to --bridge-config"):
        load_config(tmp_path / "bridge.yaml", lenient)


def test_sync_needs_images_or_config():
    result = CliRunner().invoke(main, ["sync", "--auth", "auth.json"])
    assert result.exit_code == 2 and "give --images FILE (with --auth FILE), or image-syncer's old --config FILE" \
        in result.output


def test_every_image_syncer_flag_is_accepted():
    """image-syncer v1.5's flags (cmd/image-syncer.go), short forms included, are all in `sync --help`."""
    result = CliRunner().invoke(main, ["sync", "--help"])
    for flag in ("--auth", "--images", "--config", "-p, --proc", "-r, --retries", "--namespace", "--registry",
                 "--arch", "--os", "--force", "--output-success-images", "--output-images-format", "--log"):
        assert flag in result.output, flag


def test_an_unwritable_success_file_is_refused_before_anything_is_copied(tmp_path):
    (tmp_path / "images.json").write_text(json.dumps({"127.0.0.1:5999/a/b": "127.0.0.1:5998/o/b"}))
    result = CliRunner().invoke(main, ["sync", "--images", str(tmp_path / "images.json"),
                                       "--output-success-images", "/nonexistent/dir/ok.yaml"])
    assert result.exit_code == 2
    assert "--output-success-images /nonexistent/dir/ok.yaml: cannot write a file there" in result.output
