"""The `swr-bridge` command: serve, run, sandbox, swr; mounts harbor_client's provisioning commands."""

from __future__ import annotations

import sys

import click

from adapter import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swr-bridge")
def main():
    """Relay Harbor replication to Open Telekom Cloud SWR, provision Harbor, and alert on failures."""


@main.group()
def swr():
    """SWR credential helpers."""


@swr.command("login-command")
@click.option("--access-id", required=True, help="<project>@<AK>, e.g. eu-de@AKEXAMPLE")
@click.option("--registry", default=None, help="registry host (default swr.<region>.otc.t-systems.com)")
@click.option("--sk-env", default="SWR_SK", show_default=True, help="env variable that holds the SK")
def login_command(access_id, registry, sk_env):
    """Print the long-term `docker login` line derived from AK/SK."""
    import os

    from adapter.swr.credentials import AccessID, CredentialError
    from adapter.swr.credentials import login_command as build

    try:
        aid = AccessID.parse(access_id)
    except CredentialError as exc:
        raise click.BadParameter(str(exc), param_hint="--access-id") from None
    sk = os.environ.get(sk_env)
    if not sk:
        raise click.UsageError(f"the SK is read from env {sk_env}, which is not set")
    try:
        click.echo(build(aid, sk, registry))
    except CredentialError as exc:
        raise click.UsageError(f"{sk_env}: {exc}") from None


def _mount_optional():
    """Commands that live in other modules register here when those modules exist."""
    import importlib

    for name in ("adapter.serve", "adapter.run", "adapter.sandbox.cli", "harbor_client.cli", "adapter.webhooks.cli",
                 "adapter.sync.cli"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(exc.name or "\0"):
                raise
            continue
        module.register(main)


_mount_optional()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
