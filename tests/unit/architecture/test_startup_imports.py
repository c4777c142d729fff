"""What `swr-bridge serve` loads: Flask only in the workers, Redis's client only where the budget is on Redis.

Every module gunicorn's master holds is counted again in each worker's RSS; flask (about 7 MiB) and
redis with asyncio (about 9 MiB) there took the endpoint's peak RSS in bench/relay.py from 100 to 124 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Runs serve's own run_gunicorn in a fresh interpreter; gunicorn's run() is replaced by what the master
# does before it forks (the worker and logger classes) and what a worker does next (the app).
PROBE = """
import json, sys
from gunicorn.app.base import BaseApplication
from adapter.config import load_data
from adapter.serve import run_gunicorn

def run(self):
    self.cfg.worker_class, self.cfg.logger_class
    master = sorted(sys.modules)
    self.load()
    print(json.dumps({"master": master, "worker": sorted(sys.modules)}))

BaseApplication.run = run
run_gunicorn(load_data(json.loads(sys.argv[1]), "<probe>"))
"""


def loaded(config: dict) -> dict:
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(config)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={"SWR_BRIDGE_KEY": "probe-instance-key-0123456789abcdef",
                                                     "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    return {name: set(modules) for name, modules in json.loads(run.stdout.splitlines()[-1]).items()}


def test_the_master_loads_no_flask_and_the_default_config_no_redis():
    modules = loaded({})
    assert "adapter.worker" in modules["master"] and "adapter.logs" in modules["master"]  # the probe ran
    assert {"flask", "werkzeug", "redis", "asyncio"} & modules["master"] == set()
    assert "flask" in modules["worker"] and "redis" not in modules["worker"]


def test_a_budget_on_redis_loads_its_client_in_the_workers():
    modules = loaded({"bandwidth": {"limit": "10MB/s", "backend": "redis://127.0.0.1:1/0"}})
    assert "redis" in modules["worker"] and "redis" not in modules["master"]
