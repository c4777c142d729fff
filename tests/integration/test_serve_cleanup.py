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


def _serve(tmp_path, port: int, scratch: Path, log) -> subprocess.Popen:
    config = tmp_path / "c.yaml"
    config.write_text(f"listen: 127.0.0.1:{port}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SWR_BRIDGE_BUDGET_FILE", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(TMPDIR=str(scratch), SWR_BRIDGE_KEY="cleanup-test-instance-key-0123456789")
    return subprocess.Popen([str(Path(sys.executable).with_name("swr-bridge")), "serve", "--config", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)


def _workers(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


def _until(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_worker_that_exits_leaves_the_instances_files_to_the_others(tmp_path):
    """A worker that ends (gunicorn scales down on TTOU, a max-requests restart, a HUP) unwinds through
    serve's frames it inherited from the fork: the files the instance's workers share are the master's
    to remove, when it stops, not a worker's on its way out."""
    port, scratch, log_path = free_port(), tmp_path / "tmp", tmp_path / "serve.log"
    scratch.mkdir()
    with open(log_path, "w") as log:  # a file, not a pipe: nobody reads it until the end
        proc = _serve(tmp_path, port, scratch, log)
    try:
        _until(lambda: _healthy(port) and len(_workers(proc.pid)) == 2, "serve did not come up with 2 workers")
        made = sorted(p.name for p in scratch.iterdir())
        proc.send_signal(signal.SIGTTOU)  # one worker fewer: the master stops one
        _until(lambda: len(_workers(proc.pid)) == 1, "no worker stopped on TTOU")
        time.sleep(1)
        assert sorted(p.name for p in scratch.iterdir()) == made
        proc.send_signal(signal.SIGTTIN)  # and one more: it opens the budget, logins and seats files
        _until(lambda: len(_workers(proc.pid)) == 2, "no worker started on TTIN")
        time.sleep(2)
        assert proc.poll() is None and all(_healthy(port) for _ in range(6))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    err = log_path.read_text()
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    assert [p.name for p in scratch.iterdir() if p.name.startswith("swr-bridge-")] == []


def test_only_earlier_metric_files_are_cleared(tmp_path, monkeypatch):
    from adapter.serve import prepare_metrics_dir

    for name in ("counter_12.db", "gauge_livesum_12.db", "histogram_7.db", "keep.db", "notes.txt"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert prepare_metrics_dir() == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.db", "notes.txt"]
