"""`swr-bridge sandbox`: runs the local SWR stand-in until SIGTERM/SIGINT, announcing itself in one JSON line."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

import click

from adapter.cli import size_option

DEFAULT_DATA = ".sandbox"


def _tenant_specs(flags) -> list[str]:
    if flags:
        return list(flags)
    env = os.environ.get("SWR_SANDBOX_TENANTS", "")
    return [spec.strip() for spec in env.split(",") if spec.strip()]


@click.group("sandbox", invoke_without_command=True)
@click.option("--data", "data_dir", default=lambda: os.environ.get("SWR_SANDBOX_DATA", DEFAULT_DATA),
              show_default=f"$SWR_SANDBOX_DATA or {DEFAULT_DATA}", type=click.Path(file_okay=False),
              help="registry storage, signing certificate and organizations (kept across restarts)")
@click.option("--registry-port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="docker-registry port on 127.0.0.1 (0 picks a free one)")
@click.option("--api-port", default=5001, show_default=True, type=click.IntRange(0, 65535),
              help="token service / management API port on 127.0.0.1 (0 picks a free one)")
@click.option("--tenant", "tenants", multiple=True, metavar="PROJECT:AK:SK",
              help="a tenant (repeatable; default: $SWR_SANDBOX_TENANTS, comma-separated, else the demo tenant)")
@click.option("--org-quota", default=5, show_default=True, type=click.IntRange(1),
              help="organizations each tenant may create")
@click.option("--accept-oci-index", is_flag=True,
              help="store OCI image indexes (SWR refuses them with 400 MANIFEST_INVALID)")
@click.option("--max-layer-size", default="10GB", show_default=True, callback=size_option, metavar="SIZE",
              help="largest layer accepted, as SWR's limit (0: no limit)")
@click.option("--push-rate", default=20.0, show_default=True, type=click.FloatRange(0),
              help="registry requests per second per tenant before 503 + Retry-After, as SWR's limit (0: none)")
@click.option("--max-concurrent-layers", default=20, show_default=True, type=click.IntRange(0),
              help="layer uploads in flight per tenant before 503 + Retry-After, as SWR's limit (0: none)")
@click.option("--blacklist-logins", default=600, show_default=True, type=click.IntRange(0),
              help="token requests of a tenant within a minute before it is blacklisted for 30 minutes "
                   "(403 'Not allow to login, upload or download image'), as SWR does (0: never)")
@click.option("--accept-any-name", is_flag=True,
              help="let docker-registry judge repository names (SWR refuses names that break its rules with "
                   "400 NAME_INVALID \"'repository' is invalid\")")
@click.option("--no-registry-host-api", is_flag=True,
              help="serve /dockyard and the token service only on the API port (SWR serves them on the registry host)")
@click.pass_context
def sandbox(ctx, data_dir, registry_port, api_port, tenants, org_quota, accept_oci_index, max_layer_size, push_rate,
            max_concurrent_layers, blacklist_logins, accept_any_name, no_registry_host_api):
    """Run a local SWR stand-in (docker-registry + token service + management API).

    Prints one JSON line {"registry", "api", "dockyard", "tenants": [{access_id, ak, sk, login_key}]} on stdout when
    ready; logs go to stderr. Without tenants the demo tenant eu-de / SBXDEMOACCESSKEY0001 /
    sandbox-demo-secret-key-0123456789abcdef is used.
    """
    if ctx.invoked_subcommand:
        return
    from adapter.sandbox.front import Strictness
    from adapter.sandbox.registry import RegistryStartError
    from adapter.sandbox.runner import Sandbox, SandboxError
    from adapter.swr.credentials import CredentialError

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    specs = _tenant_specs(tenants)
    try:
        box = Sandbox(data_dir, registry_port=registry_port, api_port=api_port, tenants=specs,
                      org_quota=org_quota,
                      strict=Strictness(not accept_oci_index, max_layer_size or None, push_rate or None,
                                        not no_registry_host_api, max_concurrent_layers or None,
                                        blacklist_logins or None, check_names=not accept_any_name))
    except CredentialError as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant / SWR_SANDBOX_TENANTS") from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        box.start()
    except (SandboxError, RegistryStartError, OSError) as exc:
        raise click.ClickException(f"sandbox failed to start: {exc}") from None
    try:
        click.echo(json.dumps(box.summary()))
        sys.stdout.flush()
        click.echo(f"sandbox data in {box.data_dir}, registry log {box.data_dir / 'registry.log'}", err=True)
        if not specs:
            # The secrets are in the JSON line on stdout; logs never carry them.
            click.echo(f"no tenant given: using the demo tenant {box.tenants[0].access_id}", err=True)
        stop.wait()
    finally:
        box.stop()
    click.echo("sandbox stopped", err=True)


def _tag(value: str) -> str:
    from adapter.swr.naming import TAG_RE

    if not TAG_RE.fullmatch(value):
        raise click.BadParameter(f"expected a tag (letters, digits, '_', '.', '-'; at most 128), got {value!r}")
    return value


@sandbox.command("demo-image")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--tag", default="v1", show_default=True, callback=lambda _c, _p, v: _tag(v),
              help="the tag the image gets in the layout")
def demo_image(directory, tag):
    """Write a small demo image (one layer, linux/amd64) into DIRECTORY as an OCI image layout.

    Prints the skopeo source reference (oci:DIR:TAG) and the manifest digest.
    """
    from adapter.sandbox.demo import demo_image as write

    try:
        ref, digest = write(os.path.abspath(directory), tag)
    except OSError as exc:
        raise click.ClickException(f"cannot write {directory}: {exc.strerror}") from None
    click.echo(ref)
    click.echo(digest)


def register(main_group) -> None:
    main_group.add_command(sandbox)
