"""The endpoint's config file: defaults, key paths in errors, and `serve --check` exit codes."""

import pytest
from click.testing import CliRunner

from adapter.cli import main
from adapter.config import ConfigError, load_config, load_data, swr_endpoints


def test_defaults_point_at_otc_eu_de():
    config = load_data({})
    assert config.listen == "127.0.0.1:8080"
    assert config.credentials.mode == "passthrough"
    assert swr_endpoints(config) == ("https://swr.eu-de.otc.t-systems.com", "https://swr-api.eu-de.otc.t-systems.com")
    assert swr_endpoints(load_data({"swr": {"region": "eu-nl"}}))[0] == "https://swr.eu-nl.otc.t-systems.com"
    assert config.swr.max_concurrent_layers == 20  # SWR's "at most 20 layers pushed at once"
    assert load_data({"swr": {"max_concurrent_layers": None}}).swr.max_concurrent_layers is None


@pytest.mark.parametrize("data,key,reason", [
    ({"listen": "nope"}, "listen", "HOST:PORT"),
    ({"swr": {"registry": "not a url"}}, "swr.registry", "URL"),
    ({"credentials": {"mode": "magic"}}, "credentials.mode", "passthrough"),
    ({"credentials": {"mode": "pinned"}}, "credentials.pinned", "pinned"),
    ({"mapping": [{"match": "a/**", "namespace": "n", "flatten": "sideways"}]}, "mapping.0.flatten", "all"),
    ({"mapping": [{"namespace": "n"}]}, "mapping.0.match", "required"),
    ({"bandwidth": {"limit": "fast"}}, "bandwidth.limit", "10MiB/s"),
    ({"swr": {"max_concurrent_layers": 0}}, "swr.max_concurrent_layers", "greater than or equal to 1"),
    ({"swr": {"max_concurrent_layers": "many"}}, "swr.max_concurrent_layers", "integer"),
    ({"surprise": 1}, "surprise", "Unknown"),
    # Found by the input audit: each was accepted (and failed, or misbehaved, at run time) or was a traceback.
    ({"swr": {"max_layer_size": "9" * 400 + "GB"}}, "swr.max_layer_size", "larger than 1 EB"),
    ({"swr": {"registry": "https://u:pw@swr.example.com"}}, "swr.registry", "must not carry a password"),
    ({"swr": {"api": "ftp://swr-api.example.com"}}, "swr.api", "URL"),
    ({"swr": {"ca_bundle": "/nonexistent/ca.pem"}}, "swr.ca_bundle", "no such file: '/nonexistent/ca.pem'"),
    ({"public_url": "https://u:pw@bridge.example.com"}, "public_url", "must not carry a password"),
    ({"credentials": {"mode": "pinned", "pinned": {"access_id": "no-at-sign", "secret_key_env": "SK",
                                                   "clients": [{"username": "u", "password_env": "P"}]}}},
     "credentials.pinned.access_id", "exactly one '@'"),
    ({"bandwidth": {"limit": "9" * 400 + "GiB/s"}}, "bandwidth.limit", "int32"),
    ({"bandwidth": {"limit": "0.5B/s"}}, "bandwidth.limit", "under 1 B/s"),
    ({"bandwidth": {"backend": "redis://:pw@h:99999/0"}}, "bandwidth.backend", "redis://host:6379/0"),
    ({"webhooks": {"auth_tokens_env": ["T"], "sinks": {"a": {"type": ["http"]}}}}, "webhooks.sinks.a.value.type",
     "one of http"),
    ({"webhooks": {"auth_tokens_env": ["T"], "quiet_period": "9" * 400 + "d"}}, "webhooks.quiet_period", "3650d"),
    ({"webhooks": {"auth_tokens_env": ["T"], "outbox": {"lease": "0s"}}}, "webhooks.outbox.lease", "at least 1s"),
    ({"webhooks": {"auth_tokens_env": ["T"], "outbox": {"poll_interval": "0s"}}}, "webhooks.outbox.poll_interval",
     "at least 10ms"),
    ({"webhooks": {"auth_tokens_env": ["T"], "sinks": {"a": {"type": "slack", "url_env": "U", "timeout": "0s"}}}},
     "webhooks.sinks.a.value.timeout", "at least 100ms"),
    ({"webhooks": {"auth_tokens_env": ["T"], "harbor": {"url": "https://h", "username": "u", "password_env": "P",
                                                        "poll_interval": "0s"}}},
     "webhooks.harbor.poll_interval", "at least 1s"),
    ({"mapping": [{"match": "a/**", "namespace": "a" * 100_000}]}, "mapping.0.namespace", "characters left out"),
])
def test_errors_name_the_key_path(data, key, reason):
    with pytest.raises(ConfigError) as err:
        load_data(data, "bridge.yaml")
    assert err.value.key_path == key
    assert reason.lower() in err.value.reason.lower()
    assert str(err.value).startswith(f"bridge.yaml: {key}: ")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("listen: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(path)


def test_serve_check_exit_codes(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("swr:\n  registry: http://127.0.0.1:5000\n  api: http://127.0.0.1:5001\n")
    bad.write_text("swr:\n  registry: 12\n")
    runner = CliRunner()
    ok = runner.invoke(main, ["serve", "--config", str(good), "--check"])
    assert ok.exit_code == 0 and "valid" in ok.output
    failed = runner.invoke(main, ["serve", "--config", str(bad), "--check"])
    assert failed.exit_code == 2 and "swr.registry" in failed.output
    missing = runner.invoke(main, ["serve", "--config", str(tmp_path / "none.yaml"), "--check"])
    assert missing.exit_code == 2 and "cannot read" in missing.output


BROKEN = """\
listen: 8080
swr:
  region: eu-dee
mapping:
  - {match: "library/**", namespace: Dev-Container}
  - {match: "team/**", namespace: 1team}
bandwidth:
  per_organization: {library: 2MiB/s}
"""


def test_serve_check_reports_every_problem_at_once_with_what_was_expected(tmp_path):
    """What used to pass `--check` (an uppercase or digit-first namespace, a misspelled region) and fail every
    push, or stop at the first problem with "Not a valid string.", is reported all at once."""
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(BROKEN)
    result = CliRunner().invoke(main, ["serve", "--config", str(path), "--check"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    expected = [
        'listen: expected "host:port" (e.g. "127.0.0.1:8080"), got 8080',
        "swr.region: unknown OTC region 'eu-dee'; did you mean 'eu-de'? expected one of eu-de, eu-nl, eu-ch2",
        "mapping.0.namespace: expected an SWR organization[/path]: organization 'Dev-Container' has 'CD'",
        "mapping.1.namespace: expected an SWR organization[/path]: organization '1team' must start with a "
        "lowercase letter",
        "bandwidth.per_organization.library: expected an SWR organization: organization 'library' is reserved",
    ]
    for text in expected:
        assert any(line.startswith(f"error: {path}: {text}") for line in lines), (text, lines)
    assert len(lines) == len(expected)


@pytest.mark.parametrize("text", ["", "\n", "# nothing yet\n"])
def test_an_empty_file_is_refused_rather_than_run_on_the_defaults(tmp_path, text):
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(path)


@pytest.mark.parametrize("region", ["eu-de", "eu-nl", "eu-ch2"])
def test_the_known_regions_pass(region):
    assert load_data({"swr": {"region": region}}).swr.region == region


def test_a_region_far_from_any_known_one_lists_them_without_a_guess():
    with pytest.raises(ConfigError) as err:
        load_data({"swr": {"region": "us-east-1"}})
    assert "did you mean" not in err.value.reason and "eu-de, eu-nl, eu-ch2" in err.value.reason


@pytest.mark.parametrize("namespace", ["dev-container", "dev-container/team", "a.b", ""])
def test_valid_mapping_namespaces_pass(namespace):
    load_data({"mapping": [{"match": "x/**", "namespace": namespace}]})


def test_type_errors_say_what_they_got():
    with pytest.raises(ConfigError) as err:
        load_data({"swr": {"verify_tls": "sometimes"}, "mapping": {"match": "x"}})
    assert ("swr.verify_tls", 'expected true or false, got "sometimes"') in err.value.problems
    assert ("mapping", 'expected a list, got {"match": "x"}') in err.value.problems


def test_the_config_is_one_frozen_typed_object():
    import dataclasses

    from adapter.config import BridgeConfig
    from adapter.swr.mapping import MappingRule

    config = load_data({"swr": {"region": "eu-nl", "timeout": 5},
                        "mapping": [{"match": "a/**", "namespace": "n", "flatten": "none"}]})
    assert isinstance(config, BridgeConfig)
    assert config.swr.region == "eu-nl" and config.swr.timeout == 5.0 and config.swr.verify is True
    assert config.mapping == (MappingRule("a/**", "n", 0),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_create_app_validates_every_dict_it_is_given():
    from adapter import create_app

    # Once, a dict with an `swr` key was taken as already validated.
    with pytest.raises(ConfigError, match="swr.timeout"):
        create_app({"swr": {"registry": "http://127.0.0.1:9", "timeout": "soon"}})
    assert create_app(load_data({})).config["BRIDGE"] == load_data({})


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize(("content", "reason"), [
    (b"swr: {region: \xff}\n", "not UTF-8 text (byte 0xff at offset 14)"),
    (b"\x00\x01\x80\xfe", "not UTF-8 text"),
    (b"swr: " + b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (LAUGHS.encode(), "a YAML bomb"),
    (b"listen: &l [*l]\n", "an alias inside its own anchor"),
])
def test_serve_check_refuses_a_file_that_is_no_yaml_text(tmp_path, content, reason):
    # Each was a traceback (UnicodeDecodeError, RecursionError), or 387 million nodes to walk for an error line.
    path = tmp_path / "swr-bridge.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["serve", "--check", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {path}: ") and reason in result.output and len(result.output) < 500


def test_anchors_that_share_a_block_still_load(tmp_path):
    path = tmp_path / "swr-bridge.yaml"
    path.write_text("mapping:\n- &rule {match: 'library/**', namespace: dev-container}\n- *rule\n")
    assert load_config(path).mapping[0] == load_config(path).mapping[1]
