"""Starts `swr-bridge serve` as a real gunicorn process in front of a sandbox, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from adapter.sandbox.registry import free_port

SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))


class Endpoint:
    """One `swr-bridge serve` process; `url`, `log_text()`, `stop()`. `command` is the swr-bridge to run
    (another checkout's, for a benchmark that compares commits)."""

    def __init__(self, tmp: Path, sandbox, *, mapping=None, extra=None, workers=1, instance_key=None, env=None,
                 command: str = SWR_BRIDGE):
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = tmp / f"swr-bridge-{self.port}.yaml"
        self.log_path = tmp / f"swr-bridge-{self.port}.log"
        config = {
            "listen": f"127.0.0.1:{self.port}",
            # No dockyard: SWR (and the sandbox) serve /dockyard on the registry host.
            "swr": {"registry": sandbox.registry_url, "api": sandbox.api_url},
            "mapping": mapping or [],
            "credentials": {"cache_seconds": 30},
        }
        config.update(extra or {})
        self.config_path.write_text(yaml.safe_dump(config))
        self.env = dict(os.environ, SWR_BRIDGE_KEY=instance_key or "integration-instance-key-0123456789",
                        SWR_BRIDGE_WORKERS=str(workers), SWR_BRIDGE_GUNICORN_LOGLEVEL="info")
        self.env.update(env or {})  # the caller's values win, defaults included
        self.proc = None

    def start(self, timeout: float = 60.0) -> "Endpoint":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.command, "serve", "--config", str(self.config_path)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"swr-bridge serve exited early:\n{self.log_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # queued until a worker has booted
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"swr-bridge serve did not come up:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def metric(self, name: str, **labels) -> float:
        """A sample of the endpoint's /metrics (0.0 when it has none yet)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(self.url + "/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return 0.0

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
