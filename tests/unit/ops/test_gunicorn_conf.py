"""The gunicorn settings `swr-bridge serve` runs with: each value gunicorn accepts, and what it is for."""

import os

import pytest
from gunicorn.config import Config

from adapter import gunicorn_conf
from adapter.gunicorn_conf import settings

ENV = ["SWR_BRIDGE_WORKERS", "SWR_BRIDGE_THREADS", "SWR_BRIDGE_WORKER_TIMEOUT", "SWR_BRIDGE_GRACEFUL_TIMEOUT",
       "SWR_BRIDGE_FORWARDED_ALLOW_IPS", "SWR_BRIDGE_GUNICORN_LOGLEVEL", "SWR_BRIDGE_TLS_CERT", "SWR_BRIDGE_TLS_KEY"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def loaded(listen="0.0.0.0:8080") -> Config:
    """The settings as gunicorn itself validates them (the same cfg.set serve uses)."""
    cfg = Config()
    for key, value in settings(listen).items():
        cfg.set(key, value)
    return cfg


def test_defaults_suit_long_uploads():
    cfg = loaded()
    assert cfg.bind == ["0.0.0.0:8080"]
    assert cfg.worker_class_str == "adapter.worker.BridgeWorker"
    assert cfg.worker_class.__mro__[1].__name__ == "ThreadWorker"
    assert cfg.workers == 2 and cfg.threads == 40  # 32 concurrent uploads per worker, and headroom
    # gthread heartbeats from its main loop, so a long upload does not trip the worker timeout;
    # graceful_timeout is what an in-flight 10 GB layer gets on SIGTERM.
    assert cfg.timeout == 120
    assert cfg.graceful_timeout == 600
    assert cfg.keepalive == 75
    assert cfg.limit_request_line == 8190
    assert cfg.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert cfg.control_socket_disable is True
    assert cfg.certfile is None and cfg.keyfile is None
    assert not cfg.preload_app  # each worker builds its app (and opens the budget file) after the fork


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("SWR_BRIDGE_WORKERS", "5")
    monkeypatch.setenv("SWR_BRIDGE_THREADS", "32")
    monkeypatch.setenv("SWR_BRIDGE_WORKER_TIMEOUT", "300")
    monkeypatch.setenv("SWR_BRIDGE_GRACEFUL_TIMEOUT", "900")
    monkeypatch.setenv("SWR_BRIDGE_FORWARDED_ALLOW_IPS", "10.0.0.0/8,192.168.1.1")
    monkeypatch.setenv("SWR_BRIDGE_GUNICORN_LOGLEVEL", "debug")
    cfg = loaded()
    assert (cfg.workers, cfg.threads, cfg.timeout, cfg.graceful_timeout) == (5, 32, 300, 900)
    assert cfg.forwarded_allow_ips == ["10.0.0.0/8", "192.168.1.1"]
    assert cfg.loglevel == "debug"


def test_tls_needs_both_the_certificate_and_the_key(monkeypatch, tmp_path):
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("x")
    key.write_text("x")
    monkeypatch.setenv("SWR_BRIDGE_TLS_CERT", str(cert))
    assert "certfile" not in settings("127.0.0.1:8443")
    monkeypatch.setenv("SWR_BRIDGE_TLS_KEY", str(key))
    cfg = loaded("127.0.0.1:8443")
    assert (cfg.certfile, cfg.keyfile) == (str(cert), str(key))
    assert cfg.is_ssl


def test_child_exit_is_the_hook_and_drops_the_workers_live_files(tmp_path, monkeypatch):
    cfg = loaded()
    assert cfg.child_exit is gunicorn_conf.child_exit
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / "gauge_livesum_4242.db"
    other = tmp_path / "gauge_livesum_4243.db"
    counter = tmp_path / "counter_4242.db"
    for f in (live, other, counter):
        f.write_bytes(b"")

    class Worker:
        pid = 4242

    gunicorn_conf.child_exit(None, Worker())
    assert not live.exists()
    assert other.exists() and counter.exists()  # counters of dead workers are still summed


def test_child_exit_without_multiprocess_metrics_does_nothing(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    class Worker:
        pid = os.getpid()

    gunicorn_conf.child_exit(None, Worker())  # must not raise
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_every_setting_is_a_gunicorn_setting():
    known = set(Config().settings)
    assert set(settings("127.0.0.1:1")) <= known


UNBINDABLE = "192.0.2.1:8080"  # TEST-NET-1: should serve get past its checks, gunicorn fails to bind, not serves


@pytest.mark.parametrize(("name", "value"), [
    ("SWR_BRIDGE_WORKERS", "abc"), ("SWR_BRIDGE_WORKERS", "0"), ("SWR_BRIDGE_THREADS", "-1"),
    ("SWR_BRIDGE_WORKER_TIMEOUT", "2.5"), ("SWR_BRIDGE_HEADER_TIMEOUT", "abc"), ("SWR_BRIDGE_HEADER_TIMEOUT", "0"),
    ("SWR_BRIDGE_PARKED_BODIES", "nan"), ("SWR_BRIDGE_BODY_RATE_WINDOW", "inf"), ("SWR_BRIDGE_MIN_BODY_RATE", "-5"),
])
def test_serve_refuses_a_malformed_tuning_variable_before_it_starts(name, value, tmp_path, monkeypatch):
    # Each was gunicorn's "Error: invalid literal for int()" (exit 1), a traceback at every worker spawn
    # (SWR_BRIDGE_HEADER_TIMEOUT, SWR_BRIDGE_PARKED_BODIES: exit 255), or a server with no workers.
    from click.testing import CliRunner

    from adapter.cli import main

    monkeypatch.setenv(name, value)
    config = tmp_path / "swr-bridge.yaml"
    config.write_text(f"listen: {UNBINDABLE}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2 and f"error: env {name}: expected" in result.output and repr(value) in result.output


def test_a_metrics_dir_that_is_a_file_is_refused(tmp_path):
    # Was a FileExistsError traceback from os.makedirs.
    afile = tmp_path / "metrics"
    afile.write_text("")
    assert gunicorn_conf.env_problems({"PROMETHEUS_MULTIPROC_DIR": str(afile)}) == [
        f"env PROMETHEUS_MULTIPROC_DIR: {str(afile)!r} is not a directory"]
    assert gunicorn_conf.env_problems({"SWR_BRIDGE_WORKERS": "4", "SWR_BRIDGE_HEADER_TIMEOUT": "2.5"}) == []


@pytest.mark.parametrize(("section", "named"), [
    ("webhooks: {auth_tokens_env: [UNSET_HOOK_TOKEN]}", "webhooks.auth_tokens_env: environment variable UNSET_HOOK_TOKEN"),
    ("webhooks: {auth_tokens_env: [SET_HOOK_TOKEN]}\napi: {tokens_env: [UNSET_API_TOKEN]}",
     "api.tokens_env: environment variable UNSET_API_TOKEN"),
    ("webhooks: {auth_tokens_env: [SET_HOOK_TOKEN], harbor: {url: 'https://h', username: u, password_env: UNSET_HP}}",
     "webhooks.harbor.password_env: environment variable UNSET_HP"),
    ("webhooks: {auth_tokens_env: [SET_HOOK_TOKEN], sinks: {ops: {type: slack, url_env: UNSET_SLACK}}}",
     "webhooks.sinks.ops.url_env: environment variable UNSET_SLACK"),
    ("webhooks: {auth_tokens_env: [SET_HOOK_TOKEN], sinks: {ops: {type: http, url: 'https://h', secret_env: UNSET_HS}}}",
     "webhooks.sinks.ops.secret_env: environment variable UNSET_HS"),
])
def test_serve_names_an_unset_secret_variable_before_it_starts(section, named, tmp_path, monkeypatch):
    # Each was found only in the workers: a ConfigError traceback from every worker gunicorn booted, then
    # gunicorn's HaltServer traceback, exit 1.
    from click.testing import CliRunner

    from adapter.cli import main

    monkeypatch.setenv("SET_HOOK_TOKEN", "hook-token-0123456789")
    config = tmp_path / "swr-bridge.yaml"
    config.write_text(f"listen: {UNBINDABLE}\n{section}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2 and result.output == f"error: {config}: {named} is not set\n"
