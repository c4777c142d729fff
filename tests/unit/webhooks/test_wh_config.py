"""The `webhooks:` and `api:` config blocks: strict keys, durations, secrets only from env, routes that fit."""

from __future__ import annotations

import pytest

from adapter import create_app
from adapter.config import ConfigError, load_data
from tests.unit.webhooks.helpers import webhooks_config


def load(**webhooks):
    return load_data({"webhooks": {"auth_tokens_env": ["BRIDGE_WEBHOOK_TOKEN"], **webhooks}}).webhooks


def refused(**webhooks) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load(**webhooks)
    return err.value


def test_defaults_follow_the_issue():
    conf = load()
    assert conf["path"] == "/webhooks/harbor"
    assert conf["store"] == "sqlite:///var/lib/swr-bridge/events.db"
    assert conf["quiet_period"] == 60.0
    assert conf["harbor"] is None and conf["routes"] == [] and conf["sinks"] == {}
    assert conf["outbox"]["retry_schedule"][0] == 10.0 and conf["outbox"]["max_attempts"] == 8


def test_the_issue_example_loads():
    conf = load(
        store="postgresql://bridge@db:5432/bridge", quiet_period="60s",
        harbor={"url": "https://harbor.example.com", "username": "robot$bridge", "password_env": "HARBOR_PW"},
        sinks={"ops-http": {"type": "http", "url": "https://ops.example.com/hook", "secret_env": "OPS_SECRET"},
               "ops-slack": {"type": "slack", "url_env": "SLACK_WEBHOOK_URL"},
               "ops-teams": {"type": "teams", "url_env": "TEAMS_WORKFLOW_URL"},
               "am": {"type": "alertmanager", "url": "http://alertmanager:9093"}},
        routes=[{"match": {"status": "failed"}, "sinks": ["ops-slack", "am"], "per": "execution"},
                {"match": {"status": "succeeded", "policy": "prod-*"}, "sinks": ["ops-http"], "per": "execution"}])
    assert conf["routes"][1]["match"] == {"status": ("succeeded",), "policy": ("prod-*",)}
    assert conf["harbor"]["poll_interval"] == 15.0
    assert conf["sinks"]["am"]["severity"] == "critical"


@pytest.mark.parametrize("text, seconds", [("250ms", 0.25), ("60s", 60), ("5m", 300), ("1.5h", 5400), ("2d", 172800)])
def test_durations(text, seconds):
    assert load(quiet_period=text)["quiet_period"] == pytest.approx(seconds)


@pytest.mark.parametrize("value", [60, "60", "1 m", "-5s", "1w"])
def test_durations_need_a_unit(value):
    assert refused(quiet_period=value).key_path == "webhooks.quiet_period"


def test_unknown_keys_are_refused_at_every_level():
    assert refused(colour="blue").key_path == "webhooks.colour"
    assert "outbox" in refused(outbox={"retries": 3}).key_path
    assert "sinks.am" in refused(sinks={"am": {"type": "alertmanager", "url": "http://a:9093", "x": 1}}).key_path


def test_secrets_only_come_from_env():
    assert refused(auth_tokens=["plain"]).key_path == "webhooks.auth_tokens"
    assert "url" in refused(sinks={"s": {"type": "slack", "url": "https://hooks.slack.com/services/T/B/x"}}).key_path
    assert "secret_env" in refused(sinks={"h": {"type": "http", "url": "https://x.example"}}).key_path
    assert "password" in refused(sinks={"h": {"type": "http", "url": "https://u:pw@x.example",
                                              "secret_env": "S"}}).reason
    assert "store_password_env" in refused(store="postgresql://u:pw@db/bridge").reason
    assert refused(harbor={"url": "https://h", "username": "u", "password": "x"}).key_path == "webhooks.harbor.password"


def test_env_names_are_checked():
    assert refused(auth_tokens_env=["not a name"]).key_path.startswith("webhooks.auth_tokens_env")
    assert refused(auth_tokens_env=[]).key_path == "webhooks.auth_tokens_env"


def test_routes_name_known_sinks_and_fit_their_per():
    assert "unknown sink 'nope'" in refused(routes=[{"sinks": ["nope"]}]).reason
    sinks = {"am": {"type": "alertmanager", "url": "http://a:9093"}}
    assert refused(sinks=sinks, routes=[{"sinks": ["am"], "per": "task",
                                         "match": {"event_type": "PUSH_ARTIFACT"}}]).key_path.endswith("per")
    assert refused(sinks=sinks, routes=[{"sinks": ["am"], "match": {"status": "broken"}}]).key_path.endswith("status")
    assert refused(sinks=sinks, routes=[{"sinks": ["am"], "per": "hourly"}]).key_path.endswith("per")


def test_store_must_be_sqlite_or_postgresql():
    assert refused(store="mysql://db/bridge").key_path == "webhooks.store"


def test_api_block_is_strict():
    with pytest.raises(ConfigError):
        load_data({"api": {"tokens": ["x"]}})
    assert load_data({"api": {"tokens_env": ["A", "B"]}}).api["tokens_env"] == ["A", "B"]


def test_a_template_that_does_not_compile_fails_at_start(tmp_path):
    conf = webhooks_config(f"sqlite:///{tmp_path}/e.db",
                           routes=[{"sinks": ["ops-http"], "template": {"title": "{% if %}"}}])
    with pytest.raises(ConfigError, match="routes.0.template"):
        create_app({"webhooks": conf})


def test_a_missing_env_secret_fails_at_start_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OPS_SIGNING_SECRET")
    with pytest.raises(ConfigError, match="OPS_SIGNING_SECRET is not set"):
        create_app({"webhooks": webhooks_config(f"sqlite:///{tmp_path}/e.db")})


def test_the_executions_watch_has_defaults_and_strict_keys():
    harbor = {"url": "https://harbor.example.com", "username": "robot$bridge", "password_env": "HARBOR_PW"}
    watch = load(harbor={**harbor, "watch": {}})["harbor"]["watch"]
    assert watch == {"interval": 30.0, "policies": "*", "lookback": 3600.0}
    assert load(harbor={**harbor, "watch": {"interval": "2m", "policies": "prod-*"}})["harbor"]["watch"]["interval"] == 120
    assert load(harbor=harbor)["harbor"]["watch"] is None
    assert refused(harbor={**harbor, "watch": {"interval": "500ms"}}).key_path == "webhooks.harbor.watch.interval"
    assert refused(harbor={**harbor, "watch": {"policy": "*"}}).key_path == "webhooks.harbor.watch.policy"
    assert refused(harbor={**harbor, "watch": {"policies": ""}}).key_path == "webhooks.harbor.watch.policies"
