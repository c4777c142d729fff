"""The README's commands work as printed: `swr-bridge run` (make run), the skopeo trial, login-command."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests
import yaml

from adapter.sandbox.registry import free_port
from tests.images import build_image

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def shell_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start:end if end > 0 else None], re.S)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "swr-bridge run exited early"
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting under load
            pass
        time.sleep(0.2)
    raise AssertionError("swr-bridge run did not come up")


def test_make_run_and_the_try_it_commands(tmp_path):
    port, registry_port, api_port = free_port(), free_port(), free_port()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    run = subprocess.Popen([str(BIN / "swr-bridge"), "run", "--var", str(tmp_path / "var"), "--port", str(port),
                            "--registry-port", str(registry_port), "--api-port", str(api_port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", run)
        layout = tmp_path / "layout"
        image = build_image(layout, "v1", layers=2)
        (block,) = shell_blocks("Try it locally")
        script = (block.replace("/path/to/layout", str(layout)).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                  .replace("127.0.0.1:5000", f"127.0.0.1:{registry_port}"))
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                                env=env, timeout=180)
        assert result.returncode == 0, result.stderr
        assert image.digest in result.stdout  # skopeo inspect of dev-container/myapp in the sandbox
    finally:
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
    assert "swr-bridge is running" in err and "dev-container" in err
    assert (tmp_path / "var" / "sandbox").is_dir()  # the sandbox data stays after stopping


def test_login_command_block_prints_what_the_readme_says(tmp_path):
    (block,) = shell_blocks("SWR credentials")
    command = next(line for line in block.splitlines() if line.startswith("swr-bridge swr login-command"))
    expected = next(line for line in block.splitlines() if line.startswith("# docker login"))
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", SWR_SK="abcdefghijklmnopqrstuvwxyz0123456789ABCD")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    pattern = re.escape(expected[2:]).replace(re.escape("<64 hex>"), "[0-9a-f]{64}")
    assert re.fullmatch(pattern, result.stdout.strip()), (expected, result.stdout)


def yaml_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [textwrap.dedent(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_every_yaml_block_in_the_readme_validates():
    """Endpoint configs through the endpoint's schema, bridge files through bridge.yaml's schema."""
    from adapter.config import load_data as load_endpoint_config
    from provisioning.bridgefile import load_data as load_bridge_file

    checked = 0
    for block in yaml_blocks():
        doc = yaml.safe_load(block)
        if not isinstance(doc, dict):
            continue
        if {"endpoints", "rules"} & set(doc):
            load_bridge_file(doc)
        elif {"listen", "swr", "webhooks", "mapping", "bandwidth"} & set(doc):
            load_endpoint_config(doc, "README.md")
        else:
            continue
        checked += 1
    assert checked >= 3
