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


def try_it_steps() -> list[tuple[str, list[str]]]:
    """The "Try it locally" steps in order: each ```sh block with the lines of the ```text block after it."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Try it locally\n")
    section = text[start:text.index("\n## ", start + 1)]
    fences = [(lang, textwrap.dedent(body)) for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S)]
    steps = []
    for i, (lang, body) in enumerate(fences):
        if lang == "sh":
            follows = fences[i + 1] if i + 1 < len(fences) else ("", "")
            steps.append((body, follows[1].splitlines() if follows[0] == "text" else []))
    return steps


def expected_pattern(line: str) -> re.Pattern:
    """A README output line as a pattern: `...` is anything, and a digest is any digest (gzip may differ)."""
    parts = [re.escape(part) for part in line.strip().split("...")]
    pattern = ".*".join(parts).replace(re.escape("sha256:"), "sha256:")
    return re.compile(re.sub(r"sha256:[0-9a-f]{12,64}", "sha256:[0-9a-f]{12,64}", pattern))


def assert_prints(expected: list[str], output: str, step: str) -> None:
    """Every expected line is printed, in order (other lines may come in between)."""
    lines = iter(output.splitlines())
    for want in filter(None, (e.strip() for e in expected)):
        pattern = expected_pattern(want)
        assert any(pattern.fullmatch(got.strip()) for got in lines), f"{want!r} not printed by\n{step}\n{output}"


def local_files(var: Path) -> dict[str, bytes]:
    return {name: (var / name).read_bytes() for name in ("tokens.env", "swr-bridge.yaml", "auth.yaml",
                                                         "images.example.yaml")}


def test_make_run_and_the_try_it_steps_print_what_the_readme_says(tmp_path):
    port, registry_port, api_port = free_port(), free_port(), free_port()
    var = tmp_path / "var"
    run_env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    run = subprocess.Popen([str(BIN / "swr-bridge"), "run", "--var", str(var), "--port", str(port),
                            "--registry-port", str(registry_port), "--api-port", str(api_port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", run)
        steps = try_it_steps()
        assert len(steps) >= 5 and all(expected for _, expected in steps)
        ports = {"127.0.0.1:8080": f"127.0.0.1:{port}", "127.0.0.1:5000": f"127.0.0.1:{registry_port}",
                 "127.0.0.1:5001": f"127.0.0.1:{api_port}", "var/": f"{var}/",
                 "/tmp/swr-bridge-demo": str(tmp_path / "demo"), ".venv/bin/activate": str(BIN / "activate")}

        def local(text: str) -> str:
            for old, new in ports.items():
                text = text.replace(old, new)
            return text
        # A fresh shell: the venv is not on PATH until the README's first step activates it.
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "BRIDGE_API_TOKEN")}
        env.update(PATH=path, SWR_BRIDGE_URL=f"http://127.0.0.1:{port}")
        script = "".join(f"echo '@@ step {i}'\n{local(block)}" for i, (block, _) in enumerate(steps))
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stdout
        outputs = re.split(r"^@@ step \d+\n", result.stdout, flags=re.M)[1:]
        assert len(outputs) == len(steps), result.stdout
        for (block, expected), output in zip(steps, outputs, strict=True):
            assert_prints([local(line) for line in expected], output, block)

        # The dashboard's relay and outbox panels have data from the real (multi-process) /metrics.
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.headers["Content-Type"].count("charset") == 1
        for name in ("swr_bridge_relayed_bytes_total", "swr_bridge_request_duration_seconds_bucket",
                     "swr_bridge_token_cache_requests_total", "swr_bridge_webhook_outbox_depth"):
            assert re.search(rf"^{name}{{", scraped.text, re.M), name

        # A second start on a busy port fails before it writes anything.
        before = local_files(var)
        second = subprocess.run([str(BIN / "swr-bridge"), "run", "--var", str(var), "--port", str(port),
                                 "--registry-port", "0", "--api-port", "0"],
                                capture_output=True, text=True, env=run_env, timeout=60)
        assert second.returncode != 0 and f"127.0.0.1:{port} is not available" in second.stderr, second.stderr
        assert "--port" in second.stderr and local_files(var) == before
    finally:
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
    assert "swr-bridge is running" in err and "dev-container" in err
    assert (var / "sandbox").is_dir()  # the sandbox data stays after stopping


def test_local_secrets_are_made_once_and_reused(tmp_path, monkeypatch):
    """A token configured in Harbor keeps working after a restart: tokens.env is read back, never rewritten."""
    from adapter.run import LOCAL_SECRETS, local_secrets

    for name in LOCAL_SECRETS:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "tokens.env"
    first = local_secrets(path)
    assert set(first) == set(LOCAL_SECRETS) and len(set(first.values())) == 3
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert local_secrets(path) == first and path.read_text() == text
    path.write_text(f"BRIDGE_API_TOKEN={first['BRIDGE_API_TOKEN']}\n")  # an older file: the others are added
    again = local_secrets(path)
    assert again["BRIDGE_API_TOKEN"] == first["BRIDGE_API_TOKEN"] and set(again) == set(LOCAL_SECRETS)
    assert local_secrets(path) == again


def test_the_files_make_run_writes_work_with_sync_as_they_are(tmp_path):
    """var/auth.yaml names the sandbox's API and dockyard (without them sync went to the public SWR host)."""
    from adapter.run import sync_files
    from adapter.sync.files import load_auth, load_images

    sandbox = {"registry": "http://127.0.0.1:5000", "api": "http://127.0.0.1:5001", "dockyard": "http://127.0.0.1:5001",
               "tenants": [{"access_id": "eu-de@SBXDEMOACCESSKEY0001", "ak": "SBXDEMOACCESSKEY0001",
                            "sk": "sandbox-demo-secret-key-0123456789abcdef", "login_key": "x"}]}
    sync_files(tmp_path, sandbox)
    (account,) = load_auth(tmp_path / "auth.yaml").values()
    assert (account.api, account.dockyard) == ("http://127.0.0.1:5001", "http://127.0.0.1:5001")
    assert account.principal is not None and account.username == "eu-de@SBXDEMOACCESSKEY0001"
    assert load_images(tmp_path / "images.example.yaml")[0][:2] == (
        "127.0.0.1:5000/dev-container/myapp:v1", ["127.0.0.1:5000/dev-mirror/myapp"])


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
