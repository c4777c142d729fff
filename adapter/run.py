"""`swr-bridge run` (what `make run` starts): the sandbox SWR, the endpoint and the webhook bridge on localhost."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import click
import yaml

DEFAULT_MAPPING = [{"match": "library/**", "namespace": "dev-container", "flatten": "all"}]
# Local secrets, made on the first start and read back on every later one: a token configured in Harbor,
# and the instance key sealing upload and bearer tokens, keep working across restarts.
LOCAL_SECRETS = ("BRIDGE_WEBHOOK_TOKEN", "BRIDGE_API_TOKEN", "SWR_BRIDGE_KEY")


def check_port_free(port: int, flag: str) -> None:
    """Fails before anything is started or written when the port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise click.ClickException(f"127.0.0.1:{port} is not available ({exc.strerror}); "
                                       f"stop what uses it or pick another port with {flag}") from None


def local_secrets(path: Path) -> dict[str, str]:
    """NAME=value lines from `path`, made (0600) with the missing ones the first time; env values win."""
    found = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() in LOCAL_SECRETS and value.strip():
                found[name.strip()] = value.strip()
    missing = [n for n in LOCAL_SECRETS if n not in found]
    if missing:
        found.update({n: os.environ.get(n) or secrets.token_urlsafe(32) for n in missing})
        path.touch(mode=0o600)
        path.write_text("".join(f"{n}={found[n]}\n" for n in LOCAL_SECRETS))
    return {n: os.environ.get(n) or found[n] for n in LOCAL_SECRETS}


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
        "swr": {"registry": sandbox["registry"], "api": sandbox["api"], "dockyard": sandbox["dockyard"]},
        "mapping": DEFAULT_MAPPING,
        "webhooks": {"auth_tokens_env": ["BRIDGE_WEBHOOK_TOKEN"], "store": f"sqlite:///{var / 'events.db'}",
                     "quiet_period": "10s"},
        "api": {"tokens_env": ["BRIDGE_API_TOKEN"]},
    }


def sync_files(var: Path, sandbox: dict) -> None:
    """var/auth.yaml and var/images.example.yaml for `swr-bridge sync` against the sandbox, as they are."""
    tenant = sandbox["tenants"][0]
    host = sandbox["registry"].removeprefix("http://")
    auth = {host: {"access_key": tenant["ak"], "secret_key": tenant["sk"], "project": tenant["access_id"].split("@")[0],
                   "api": sandbox["api"], "dockyard": sandbox["dockyard"]}}
    images = {f"{host}/dev-container/myapp:v1": f"{host}/dev-mirror/myapp"}
    auth_path = var / "auth.yaml"
    auth_path.touch(mode=0o600)
    auth_path.write_text("# The sandbox's demo tenant (written by `swr-bridge run`); `api` and `dockyard` are where\n"
                         "# the sandbox serves SWR's management API and /dockyard calls.\n"
                         + yaml.safe_dump(auth, sort_keys=False))
    (var / "images.example.yaml").write_text(
        "# Copies the image README's \"Try it\" pushed into a second organization (written by `swr-bridge run`).\n"
        + yaml.safe_dump(images, sort_keys=False))


def _banner(config: dict, sandbox: dict, config_path: Path, var: Path) -> str:
    tenant = sandbox["tenants"][0]
    endpoint = config["public_url"].removeprefix("http://")
    return "\n".join([
        "swr-bridge is running on localhost with the local SWR sandbox (SQLite store).",
        f"  endpoint        {config['public_url']}   (config: {config_path})",
        f"  sandbox SWR     registry {sandbox['registry']}, API {sandbox['api']}",
        f"  demo tenant     access id {tenant['access_id']}, SK {tenant['sk']}, login key {tenant['login_key']}",
        f"  webhook intake  {config['public_url']}/webhooks/harbor  (tokens in {var / 'tokens.env'})",
        f"  sync files      {var / 'auth.yaml'}, {var / 'images.example.yaml'}",
        "Try it (README.md, \"Try it locally\"), in another terminal:",
        "  .venv/bin/swr-bridge sandbox demo-image /tmp/swr-bridge-demo",
        f"  skopeo copy --dest-tls-verify=false --dest-creds '{tenant['access_id']}:{tenant['sk']}' \\",
        f"      oci:/tmp/swr-bridge-demo:v1 docker://{endpoint}/library/myapp:v1     # lands as dev-container/myapp",
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
    from adapter.serve import exit_on_bad_env, run_gunicorn

    # Nothing is written before every port is known to be free: a failed start changes nothing.
    exit_on_bad_env(load_data({}, "<defaults>"))  # run's own config names only the tokens it makes itself
    check_port_free(port, "--port")
    var = Path(var_dir).resolve()
    sandbox_proc, sandbox = start_sandbox(var / "sandbox", registry_port, api_port)
    try:
        # Local tokens go to a 0600 file rather than the terminal scrollback.
        os.environ.update(local_secrets(var / "tokens.env"))
        raw = local_config(var, sandbox, port)
        config_path = var / "swr-bridge.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        sync_files(var, sandbox)
        config = load_data(raw, str(config_path))
        click.echo(_banner(raw, sandbox, config_path, var), err=True)
        run_gunicorn(config)
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(15)


def register(main) -> None:
    main.add_command(run)
