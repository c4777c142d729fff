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


@pytest.mark.parametrize("data,key,reason", [
    ({"listen": "nope"}, "listen", "HOST:PORT"),
    ({"swr": {"registry": "not a url"}}, "swr.registry", "URL"),
    ({"credentials": {"mode": "magic"}}, "credentials.mode", "passthrough"),
    ({"credentials": {"mode": "pinned"}}, "credentials.pinned", "pinned"),
    ({"mapping": [{"match": "a/**", "namespace": "n", "flatten": "sideways"}]}, "mapping.0.flatten", "all"),
    ({"mapping": [{"namespace": "n"}]}, "mapping.0.match", "required"),
    ({"bandwidth": {"limit": "fast"}}, "bandwidth.limit", "10MiB/s"),
    ({"surprise": 1}, "surprise", "Unknown"),
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
