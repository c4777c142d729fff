"""`swr-bridge serve` removes the temporary budget file and metrics directory it made, on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from adapter.sandbox.registry import free_port


def test_serve_leaves_no_temporary_files(tmp_path):
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(f"listen: 127.0.0.1:{port}\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SWR_BRIDGE_BUDGET_FILE", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(TMPDIR=str(scratch), SWR_BRIDGE_KEY="cleanup-test-instance-key-0123456789")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("swr-bridge")), "serve", "--config", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        made = sorted(p.name.split("-")[2] for p in scratch.iterdir() if p.name.startswith("swr-bridge-"))
        assert made == ["budget", "logins", "metrics"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert [p.name for p in scratch.iterdir() if p.name.startswith("swr-bridge-")] == []
