"""`swr-bridge serve` removes the temporary budget file and metrics directory it made, on SIGTERM, and
empties no file that the environment names."""

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
    precious = tmp_path / "precious"
    precious.write_text("not a budget")  # once, serve emptied whatever SWR_BRIDGE_BUDGET_FILE named
    env.update(TMPDIR=str(scratch), SWR_BRIDGE_KEY="cleanup-test-instance-key-0123456789",
               SWR_BRIDGE_BUDGET_FILE=str(precious))
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
        assert made == ["budget", "logins", "metrics", "seats"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert [p.name for p in scratch.iterdir() if p.name.startswith("swr-bridge-")] == []
    assert precious.read_text() == "not a budget"


def test_only_earlier_metric_files_are_cleared(tmp_path, monkeypatch):
    from adapter.serve import prepare_metrics_dir

    for name in ("counter_12.db", "gauge_livesum_12.db", "histogram_7.db", "keep.db", "notes.txt"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert prepare_metrics_dir() == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.db", "notes.txt"]
