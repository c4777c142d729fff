"""Sinks deliver one alert to one place; every request goes through `Sink._request`, which always sets a timeout."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import requests

from harbor_client.units import retry_after

_MESSAGE_NS = uuid.UUID("5b0b6a8e-3f4e-4c1e-9d2a-7e1f0c9a4b21")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str = ""
    retry_after: float | None = None


def env_value(name: str, key: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"{key}: environment variable {name} is not set")
    return value


class Sink:
    """A configured destination; subclasses only say what to send (`build`)."""

    def __init__(self, name: str, conf: dict, session: requests.Session):
        self.name, self.conf, self.session = name, conf, session
        self.timeout = conf["timeout"]
        self.url = conf.get("url") or env_value(conf["url_env"], f"webhooks.sinks.{name}.url_env")

    def message_id(self, alert: dict) -> str:
        """Stable across retries and replays of one (alert, sink), so receivers can drop repeats."""
        return "msg_" + uuid.uuid5(_MESSAGE_NS, f"{alert['alert_key']}/{self.name}").hex

    def build(self, alert: dict) -> tuple[str, bytes, dict]:
        raise NotImplementedError

    def deliver(self, alert: dict) -> Outcome:
        url, body, headers = self.build(alert)
        return self._request("POST", url, body, {"Content-Type": "application/json", **headers})

    def _request(self, method: str, url: str, body: bytes, headers: dict) -> Outcome:
        try:
            response = self.session.request(method, url, data=body, headers=headers, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.Timeout:
            return Outcome(False, None, "timeout")
        except requests.RequestException as exc:
            # Only the class name: requests' messages quote the URL, and Slack/Teams URLs are credentials.
            return Outcome(False, None, type(exc).__name__)
        with response:
            if 200 <= response.status_code < 300:
                return Outcome(True, response.status_code)
            wait = retry_after(response.headers.get("Retry-After")) if response.status_code in (429, 503) else None
            return Outcome(False, response.status_code, f"HTTP {response.status_code}", wait)


def build_sinks(conf: dict, session: requests.Session) -> dict[str, Sink]:
    from adapter.webhooks.sinks.alertmanager import AlertmanagerSink
    from adapter.webhooks.sinks.http import HttpSink
    from adapter.webhooks.sinks.slack import SlackSink
    from adapter.webhooks.sinks.teams import TeamsSink

    kinds = {"http": HttpSink, "slack": SlackSink, "teams": TeamsSink, "alertmanager": AlertmanagerSink}
    return {name: kinds[sink["type"]](name, sink, session) for name, sink in conf.items()}
