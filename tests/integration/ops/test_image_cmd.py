"""The image's CMD and HEALTHCHECK, run here as they are written in the Dockerfile (the config path
pointed at a copy of the image's default config, on a free port)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml
from dockerfile_parse import DockerfileParser

from adapter.sandbox.registry import free_port

ROOT = Path(__file__).resolve().parents[3]


def test_the_dockerfile_cmd_serves_and_its_healthcheck_passes(tmp_path):
    parsed = DockerfileParser(str(ROOT / "Dockerfile"))
    cmd = json.loads(parsed.cmd)
    healthcheck = next(i["value"] for i in parsed.structure if i["instruction"] == "HEALTHCHECK")
    probe = json.loads(healthcheck.partition("CMD")[2].strip())
    port = free_port()
    config = yaml.safe_load((ROOT / "deploy" / "swr-bridge.yaml").read_text())
    config["listen"] = f"127.0.0.1:{port}"
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [str(Path(sys.executable).with_name(cmd[0])), *cmd[1:-1], str(path)]
    env = dict(os.environ, SWR_BRIDGE_KEY="image-cmd-instance-key-0123456789", SWR_BRIDGE_PORT=str(port),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    # Nothing listens yet: the probe must say so (asked after the start it would race the boot).
    assert subprocess.run(probe, env=env, cwd=tmp_path).returncode == 1
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline, ok = time.time() + 30, False
        while time.time() < deadline and not ok:
            try:
                ok = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        assert ok, (tmp_path / "serve.log").read_text()[-2000:]
        assert subprocess.run(probe, env=env, cwd=tmp_path).returncode == 0
    finally:
        proc.terminate()
        proc.wait(30)
    assert subprocess.run(probe, env=env, cwd=tmp_path).returncode == 1
