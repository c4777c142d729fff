"""The docker-registry child: generated config, launch, readiness wait and reliable stop."""

from __future__ import annotations

import logging
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
import yaml

log = logging.getLogger(__name__)

REGISTRY_BIN = "docker-registry"


class RegistryStartError(RuntimeError):
    """docker-registry did not come up; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signals a child that still runs, waits `grace` seconds, then kills it and reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def registry_config(*, port: int, storage: Path, realm: str | None = None, service: str = "",
                    issuer: str = "", rootcertbundle: Path | None = None) -> dict:
    """The distribution 2.8 config: token auth against the sandbox (or none without a realm),
    filesystem storage, deletes on."""
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            # Purging would delete uploads that a slow relay test still has open.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16),
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if realm:
        config["auth"] = {"token": {"realm": realm, "service": service, "issuer": issuer,
                                    "rootcertbundle": str(rootcertbundle)}}
    return config


class RegistryProcess:
    """One `docker-registry serve` child bound to 127.0.0.1, with its log in `log_path`."""

    verify = True  # what the readiness probe verifies a TLS registry with (tests serve self-signed ones)

    def __init__(self, config_path: Path, log_path: Path, port: int, binary: str = REGISTRY_BIN):
        self.config_path, self.log_path, self.port, self.binary = config_path, log_path, port, binary
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, config: dict, timeout: float = 20.0) -> None:
        exe = shutil.which(self.binary)
        if exe is None:
            raise RegistryStartError(f"{self.binary} not found on PATH (Debian package docker-registry)")
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        # The log is appended across restarts; the tail we show must come from this launch only.
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as logfile:
            self.proc = subprocess.Popen([exe, "serve", str(self.config_path)], stdin=subprocess.DEVNULL,
                                         stdout=logfile, stderr=subprocess.STDOUT)
        log.info("docker-registry pid %s on %s, log %s", self.proc.pid, self.url, self.log_path)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RegistryStartError(
                    f"docker-registry exited with {self.proc.returncode}; log tail:\n{self.log_tail()}")
            try:
                # Token auth makes /v2/ answer 401 once the listener is up.
                if requests.get(self.url + "/v2/", timeout=1, verify=self.verify).status_code in (200, 401):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RegistryStartError(f"docker-registry not ready on {self.url} after {timeout}s; "
                                 f"log tail:\n{self.log_tail()}")

    def address_in_use(self) -> bool:
        return "address already in use" in self.log_tail()

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, grace)
