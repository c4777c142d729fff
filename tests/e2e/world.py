"""The whole loop for end-to-end tests: Harbor double + jobservice, endpoint + bridge, sandbox SWR, Alertmanager."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.doubles.harbor.jobservice import JobserviceState
from tests.doubles.harbor.server import HarborDouble
from tests.integration.endpoint import Endpoint

SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))
WEBHOOK_TOKEN = "e2e-webhook-token-0123456789"
HARBOR_PASSWORD = "Harbor12345"


def bridge_env(tenant) -> dict:
    return dict(os.environ, HARBOR_PASSWORD=HARBOR_PASSWORD, SWR_SECRET=tenant.sk,
                BRIDGE_WEBHOOK_TOKEN=f"Bearer {WEBHOOK_TOKEN}")


def cli(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SWR_BRIDGE, *args], capture_output=True, text=True, env=env, timeout=timeout)


def endpoint_with_bridge(tmp: Path, sandbox, alertmanager_url: str, harbor_url: str | None = None,
                         watch: dict | None = None) -> Endpoint:
    """The endpoint process, with the webhook bridge routing every execution summary to Alertmanager."""
    webhooks = {
        "auth_tokens_env": ["E2E_WEBHOOK_TOKEN"],
        "store": f"sqlite:///{tmp / 'events.db'}",
        "quiet_period": "2s",
        "sinks": {"am": {"type": "alertmanager", "url": alertmanager_url}},
        "routes": [{"match": {"status": ["succeeded", "failed"]}, "sinks": ["am"], "per": "execution"}],
    }
    if harbor_url:
        webhooks["harbor"] = {"url": harbor_url, "username": "admin", "password_env": "HARBOR_PASSWORD",
                              "verify_tls": False, "poll_interval": "1s", **({"watch": watch} if watch else {})}
    env = {"E2E_WEBHOOK_TOKEN": f"Bearer {WEBHOOK_TOKEN}", "HARBOR_PASSWORD": HARBOR_PASSWORD}
    return Endpoint(tmp, sandbox, extra={"webhooks": webhooks}, env=env)


def bridge_file(path: Path, *, harbor_url: str, endpoint_url: str, tenant, rule: str, namespace: str,
                provider: str = "docker-registry", copy_by_chunk: bool = False, repositories: str = "**") -> Path:
    doc = {
        "harbor": {"url": harbor_url, "username": "admin", "password_env": "HARBOR_PASSWORD", "verify_tls": False},
        "endpoints": [{"name": f"{rule}-endpoint", "provider": provider, "url": endpoint_url,
                       "access_id": tenant.access_id, "access_secret_env": "SWR_SECRET",
                       "verify_remote_cert": False}],
        "rules": [{"name": rule, "endpoint": f"{rule}-endpoint",
                   "source": {"project": "library", "repositories": repositories, "tags": "**"},
                   "destination": {"namespace": namespace, "flatten": "all"}, "trigger": "manual",
                   "override": True, "copy_by_chunk": copy_by_chunk, "enabled": True}],
        "webhooks": [{"project": "library", "name": f"{rule}-hook", "url": f"{endpoint_url}/webhooks/harbor",
                      "auth_header_env": "BRIDGE_WEBHOOK_TOKEN", "format": "Default", "events": ["REPLICATION"]}],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Harbor:
    """The Harbor double with a jobservice over a real local registry, served over HTTP."""

    def __init__(self, local_registry_url: str, **kwargs):
        self.state = JobserviceState(local_registry_url, status_lag=0.5, **kwargs)
        self.double = HarborDouble(self.state)

    def __enter__(self) -> "Harbor":
        self.double.start()
        return self

    def __exit__(self, *exc) -> None:
        self.state.wait_idle(30)
        self.double.stop()

    @property
    def url(self) -> str:
        return self.double.url


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
