"""The `swr-bridge` command: serve, run, sandbox, swr; mounts harbor_client's provisioning commands."""

from __future__ import annotations

import gc
import importlib
import sys

import click

from adapter import __version__

# command name -> module whose register(group) adds it
LAZY_COMMANDS = {
    "serve": "adapter.serve", "run": "adapter.run", "sandbox": "adapter.sandbox.cli",
    "sync": "adapter.sync.cli", "copy": "adapter.sync.cli",
    "events": "adapter.webhooks.cli", "deliveries": "adapter.webhooks.cli", "summaries": "adapter.webhooks.cli",
    "plan": "provisioning.cli", "apply": "provisioning.cli", "replicate": "provisioning.cli",
    "preview": "adapter.preview", "endpoints": "provisioning.cli", "rules": "provisioning.cli",
    "executions": "provisioning.cli", "webhooks": "provisioning.cli",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, str] = {}

    def add_lazy(self, name: str, module: str) -> None:
        self._lazy[name] = module

    def list_commands(self, ctx):
        return sorted(set(self.commands) | {n for n in self._lazy if self._load(n)})

    def get_command(self, ctx, name):
        return self.commands.get(name) or self._load(name)

    def _load(self, name: str):
        if name in self.commands:
            return self.commands[name]
        module_name = self._lazy.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if module_name.startswith(exc.name or "\0"):
                return None  # that part is not installed in this build
            raise
        scratch = click.Group()
        module.register(scratch)
        for cmd_name, cmd in scratch.commands.items():
            if self._lazy.get(cmd_name) == module_name:
                self.commands.setdefault(cmd_name, cmd)
        return self.commands.get(name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swr-bridge")
def main():
    """Relay Harbor replication to Open Telekom Cloud SWR, provision Harbor, and alert on failures."""


def entry() -> None:
    """The console script: main(), and gc.freeze() before the interpreter shuts down. Its last garbage
    collections would otherwise walk every object that requests, urllib3 and click made at import: some
    40 ms of a 0.5 s `sync` that found nothing to copy, measured. Files are closed, and streams flushed,
    before that; objects left in reference cycles are simply not collected at exit."""
    try:
        main()
    finally:
        gc.freeze()


def size_option(ctx, param, value):
    """click callback of the SIZE options of `sync`, `copy` and `sandbox`: 10GB, 512MiB or a number of bytes."""
    from adapter.transfer.limits import parse_size  # only the commands that take a size import it

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


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


def _mount_lazily():
    """Subcommands live in their own modules and are imported only when used, so that
    `swr-bridge serve` keeps the gunicorn master free of the workers' heavy imports."""
    for name, module in LAZY_COMMANDS.items():
        main.add_lazy(name, module)


_mount_lazily()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
