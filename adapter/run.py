"""`swr-bridge run` (what `make run` starts): the sandbox SWR, the endpoint and the webhook bridge on localhost."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import click
import yaml

DEFAULT_MAPPING = [{"match": "library/**", "namespace": "dev-container", "flatten": "all"}]


def start_sandbox(data: Path, registry_port: int, api_port: int) -> tuple[subprocess.Popen, dict]:
    exe = Path(sys.executable).with_name("swr-bridge")
    proc = subprocess.Popen([str(exe), "sandbox", "--data", str(data), "--registry-port", str(registry_port),
                             "--api-port", str(api_port)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise click.ClickException("the sandbox did not start (see the messages above)")
    return proc, json.loads(line)


def local_config(var: Path, sandbox: dict, port: int) -> dict:
    return {
        "listen": f"127.0.0.1:{port}",
        "public_url": f"http://127.0.0.1:{port}",
        "swr": {"registry": sandbox["registry"], "api": sandbox["api"]},  # /dockyard is on the registry host
        "mapping": DEFAULT_MAPPING,
        "webhooks": {"auth_tokens_env": ["BRIDGE_WEBHOOK_TOKEN"], "store": f"sqlite:///{var / 'events.db'}",
                     "quiet_period": "10s"},
        "api": {"tokens_env": ["BRIDGE_API_TOKEN"]},
    }


def _banner(config: dict, sandbox: dict, config_path: Path) -> str:
    tenant = sandbox["tenants"][0]
    endpoint = config["public_url"].removeprefix("http://")
    return "\n".join([
        "swr-bridge is running on localhost with the local SWR sandbox (SQLite store).",
        f"  endpoint        {config['public_url']}   (config: {config_path})",
        f"  sandbox SWR     registry {sandbox['registry']}, API {sandbox['api']}",
        f"  demo tenant     access id {tenant['access_id']}, SK {tenant['sk']}",
        f"  webhook intake  {config['public_url']}/webhooks/harbor  (tokens in {config_path.parent / 'tokens.env'})",
        "Try it:",
        f"  skopeo copy --dest-tls-verify=false --dest-creds '{tenant['access_id']}:{tenant['sk']}' \\",
        f"      oci:DIR:TAG docker://{endpoint}/library/myapp:TAG     # lands as dev-container/myapp",
        f"  SWR_SK={tenant['sk']} swr-bridge swr login-command --access-id {tenant['access_id']}",
        "Stop with Ctrl-C.",
    ])


@click.command()
@click.option("--var", "var_dir", default="var", show_default=True, type=click.Path(file_okay=False),
              help="where the sandbox data, the generated config and the SQLite store live")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="endpoint port")
@click.option("--registry-port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-port", default=5001, show_default=True, type=click.IntRange(0, 65535))
def run(var_dir, port, registry_port, api_port):
    """Start the local SWR sandbox, the endpoint and the webhook bridge, on embedded defaults."""
    from adapter.config import load_data
    from adapter.serve import run_gunicorn

    var = Path(var_dir).resolve()
    var.mkdir(parents=True, exist_ok=True)
    tokens = var / "tokens.env"
    for name in ("BRIDGE_WEBHOOK_TOKEN", "BRIDGE_API_TOKEN"):
        os.environ.setdefault(name, secrets.token_urlsafe(24))
    # Local tokens go to a 0600 file rather than the terminal scrollback.
    tokens.touch(mode=0o600)
    tokens.write_text("".join(f"{n}={os.environ[n]}\n" for n in ("BRIDGE_WEBHOOK_TOKEN", "BRIDGE_API_TOKEN")))
    sandbox_proc, sandbox = start_sandbox(var / "sandbox", registry_port, api_port)
    try:
        raw = local_config(var, sandbox, port)
        config_path = var / "swr-bridge.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        config = load_data(raw, str(config_path))
        click.echo(_banner(raw, sandbox, config_path), err=True)
        run_gunicorn(config)
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(15)


def register(main) -> None:
    main.add_command(run)
