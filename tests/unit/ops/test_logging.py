"""One logging setup: every module of the project that logs, logs a JSON line with the request id."""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import adapter
import harbor_client

ROOT = Path(__file__).resolve().parents[3]

# Runs in a fresh interpreter, so that the handlers are the ones create_app installs.
PROBE = """
import importlib, json, logging, sys
from adapter import create_app
app = create_app({})
names = json.loads(sys.argv[1])
with app.test_request_context("/v2/", headers={"X-Request-Id": "probe-req-1"}):
    from adapter import access
    access._before()
    for name in names:
        module = importlib.import_module(name)
        module.log.info("probe from %s", name)
    app.logger.error("probe from the app logger")
logging.getLogger("adapter.outside").warning("no request here")
"""


def logging_modules() -> list[str]:
    """Every module of adapter and harbor_client with a module-level `log`."""
    found = []
    for package in (adapter, harbor_client):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            path = Path(info.module_finder.path) / (info.name.rsplit(".", 1)[-1] + ".py")
            if path.exists() and "\nlog = logging.getLogger(" in path.read_text():
                found.append(info.name)
    return found


def test_every_module_logs_json_with_the_request_id():
    names = logging_modules()
    assert len(names) >= 10, names  # the scan found the modules that log
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]  # every line is JSON
    by_msg = {entry["msg"]: entry for entry in lines}
    for name in names:
        entry = by_msg[f"probe from {name}"]
        assert entry["request_id"] == "probe-req-1" and entry["level"] == "info" and entry["ts"].endswith("Z")
        assert entry["logger"].startswith(("adapter", "harbor_client", "swr_bridge"))
    assert by_msg["probe from the app logger"]["request_id"] == "probe-req-1"
    assert "request_id" not in by_msg["no request here"]
