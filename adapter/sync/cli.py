"""`swr-bridge sync` (image-syncer's files and flags) and `swr-bridge copy SRC DST`, on one engine.

Exit codes: 0 everything copied or up to date, 1 something failed, 2 bad input (nothing was copied).
"""

from __future__ import annotations

import dataclasses
import functools
import time

import click

from adapter.cli import size_option
from adapter.sync.errors import InputError, Leniency
from adapter.transfer.limits import MAX_CONCURRENT_LAYERS, PUSH_RATE


class BadInput(click.ClickException):
    """Bad files, flags or references: exit 2 with the message, never a traceback."""

    exit_code = 2


def _rate(ctx, param, value):
    if value is None:
        return None
    from adapter.throttle import parse_rate

    try:
        return parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _split(ctx, param, values) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def common_options(command):
    """The flags sync and copy share."""
    options = [
        click.option("-p", "--proc", type=click.IntRange(1, 64), default=5, show_default=True,
                     help="blobs transferred at once (images are checked twice as many at once)"),
        click.option("-r", "--retries", type=click.IntRange(0, 20), default=2, show_default=True,
                     help="retries per blob or manifest (with backoff), before the final pass"),
        click.option("--arch", "arches", multiple=True, callback=_split,
                     help="keep only these architectures (arch or arch:variant) of a multi-arch index"),
        click.option("--os", "oses", multiple=True, callback=_split,
                     help="keep only these operating systems (os or os:version) of a multi-arch index"),
        click.option("--force", is_flag=True, help="put every manifest, also where the destination has it already"),
        click.option("--strict", is_flag=True,
                     help="refuse what image-syncer lets pass with a warning (unset variables, unknown fields, half "
                          "a credential, tag@digest, schema 1 sources)"),
        click.option("--dry-run", is_flag=True, help="show what would be copied, and where; change nothing"),
        click.option("--swr-listing/--no-swr-listing", default=True, show_default=True,
                     help="let SWR's tag listing (one call per repository) confirm tags that are up to date; "
                          "without it each tag is checked with its own manifest HEAD"),
        click.option("--bandwidth", callback=_rate, help="bandwidth budget for all transfers, e.g. 50MiB/s"),
        click.option("--bridge-config", "config_path", type=click.Path(dir_okay=False),
                     help="the endpoint's config file: its mapping (flatten) rules and bandwidth apply"),
        click.option("--log", "log_path", type=click.Path(dir_okay=False), help="also write every line here"),
        click.option("--timeout", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
                     help="seconds to wait for a registry's answer"),
        click.option("--format", "fmt", type=click.Choice(["auto", "oci", "v2s2"]), default="auto", show_default=True,
                     help="auto: send images as they are, and an OCI index that SWR refuses as a Docker manifest "
                          "list; v2s2: convert OCI images to Docker schema 2 before sending; oci: never convert"),
        click.option("--max-rps", type=click.FloatRange(0),
                     help="requests per second to an SWR registry, shared by all --proc workers (SWR allows a "
                          "tenant 20; 0: no limit); a 429/503's Retry-After pauses them all  [default: 20, in a "
                          "shard of COUNT 20/COUNT]"),
        click.option("--swr-layers", type=click.IntRange(1, 64),
                     help="layer uploads at once per SWR tenant, shared by all --proc workers (SWR takes at most "
                          "20 of a tenant at once)  [default: 20, in a shard of COUNT 20/COUNT, at least 1]"),
        click.option("--max-layer-size", callback=size_option, default="10GB", show_default=True, metavar="SIZE",
                     help="SWR's per-layer limit: an image with a larger layer fails before any byte is sent"),
        click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="the final summary as text or as a JSON report"),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def _endpoint_config(path):
    """(mapping rules, bandwidth policy) from the endpoint's config file, or none of either."""
    if path is None:
        return [], None
    from adapter.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        raise BadInput(f"--bridge-config {exc}") from None
    return list(config.mapping), config.bandwidth


def _budget(policy, rate):
    """The shared budget for --bandwidth and the config's bandwidth section; None when unlimited."""
    if rate is None and policy is None:
        return None
    from adapter.throttle import BandwidthPolicy, Budget

    policy = policy or BandwidthPolicy()
    if rate is not None:
        policy = dataclasses.replace(policy, limit=rate, windows=())
    budget = Budget(policy)
    return budget if budget.active else None


def _session(proc: int):
    """The one session: pooled connections for every worker, and no per-request reading of the environment
    (proxy variables, ~/.netrc, whose Basic auth would replace our tokens) unless proxies are configured."""
    import urllib.request

    from adapter.transfer.session import pooled_session

    session = pooled_session(2 * proc + 4, hosts=32)
    session.trust_env = bool(urllib.request.getproxies())
    return session


def _load(make_rules, auth, opts: dict):
    """(remotes, rules, log file, budget) from the files and flags; bad input of any kind is exit 2.

    `auth` is the auth file's path (None: anonymous), or the accounts already read from an old --config."""
    from adapter.sync.files import load_auth
    from adapter.sync.remote import Remotes

    mapping, policy = _endpoint_config(opts["config_path"])
    lenient = opts["lenient"]
    try:
        accounts = auth if isinstance(auth, dict) else load_auth(auth, lenient)
        _writable(opts.get("success_path"))
        remotes = Remotes(accounts, _session(opts["proc"]), opts["timeout"], max_rps=opts["max_rps"] or None,
                          swr_layers=opts["swr_layers"])
        rules = make_rules(remotes, mapping)
        log = open(opts["log_path"], "a") if opts["log_path"] else None
    except InputError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"--log {opts['log_path']}: {exc.strerror}") from None
    return remotes, rules, log, _budget(policy, opts["bandwidth"])


def _tenant_shares(opts: dict) -> str | None:
    """Fills in --swr-layers and --max-rps where they were not given: SWR's limits are a tenant's, so
    each of COUNT shards takes 1/COUNT of them (the shards of an Indexed Job run at once, and SWR answers
    a tenant's excess with 503s and, at worst, a 30-minute blacklist). The line to print, when sharded."""
    shard = opts.get("shard")
    count = shard.count if shard else 1
    if opts["swr_layers"] is None:
        opts["swr_layers"] = max(1, MAX_CONCURRENT_LAYERS // count)
    if opts["max_rps"] is None:
        opts["max_rps"] = PUSH_RATE / count
    if shard is None:
        return None
    return (f"shard {shard}: the rules whose source repository hashes to it; per SWR tenant at most "
            f"{opts['swr_layers']} layer uploads at once and {opts['max_rps']:g} requests/s (--swr-layers, --max-rps)")


def _run(make_rules, auth, opts: dict, *, single: bool = False) -> None:
    """Loads everything, plans, copies, reports; exit 1 when anything failed."""
    from adapter.sync.engine import Engine, Options
    from adapter.sync.plan import destinations, expand_each
    from adapter.sync.progress import Reporter, render, summary, to_json

    shard_line = _tenant_shares(opts)
    remotes, rules, log, budget = _load(make_rules, auth, opts)
    options = Options(opts["proc"], opts["retries"], oses=opts["oses"], arches=opts["arches"], single=single,
                      dry_run=opts["dry_run"], listing=opts["swr_listing"], force=opts["force"],
                      schema1=not opts["strict"], format=opts["fmt"], max_layer_size=opts["max_layer_size"] or None)
    reporter = Reporter(log=log)
    for warning in opts["lenient"].warnings:
        reporter.warn(warning)
    remotes.announce = reporter.line
    engine = Engine(options, reporter, budget)
    started = time.monotonic()
    try:
        results = []  # rules whose tags could not be listed, then every job's result

        def jobs():
            for found in expand_each(rules, remotes, engine.retry, opts["proc"], results):
                reporter.planned(len(found))
                yield from found
            reporter.listed()

        if shard_line:
            reporter.line(shard_line)
        reporter.start(len(rules))
        results += engine.run(jobs(), destinations(rules, remotes))
    finally:
        reporter.close()
        engine.close()
        if log:
            log.close()
    report = summary(results, time.monotonic() - started, opts["dry_run"], reporter.warnings)
    if opts.get("shard"):
        report["shard"] = str(opts["shard"])
    report["limits"] = {"swr_layers": opts["swr_layers"], "max_rps": opts["max_rps"]}
    written = not opts.get("success_path") or _write_success(opts["success_path"], opts["success_format"], results)
    click.echo(to_json(report) if opts["output"] == "json" else render(report))
    if report["failed"] or not written:  # a missing success file is a failure: the rerun needs it
        raise SystemExit(1)


def _write_success(path: str, fmt: str, results) -> bool:
    """image-syncer's --output-success-images: the images copied or up to date, as an images file
    ({source: destination or [destinations]}) that a later run takes as its --images."""
    done: dict[str, list[str]] = {}
    for r in results:
        if r.status == "copied" or (r.status == "skipped" and r.reason == "up to date"):
            done.setdefault(r.source, []).append(r.destination)
    doc = {src: dests[0] if len(dests) == 1 else dests for src, dests in done.items()}
    if fmt == "json":
        import json

        text = json.dumps(doc, indent=2) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) if doc else "{}\n"
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError as exc:
        click.echo(f"--output-success-images {path}: {exc.strerror}", err=True)
        return False
    return True


def _writable(path: str | None) -> None:
    """Checked before anything is copied: --output-success-images names a file that can be written."""
    if path:
        import os

        folder = os.path.dirname(os.path.abspath(path))
        if not os.access(folder, os.W_OK) or os.path.isdir(path):
            raise InputError(f"--output-success-images {path}", "cannot write a file there")


@click.group("sync", invoke_without_command=True)
@click.option("--auth", "auth_path", type=click.Path(dir_okay=False),
              help="credentials per registry (JSON or YAML, image-syncer's auth file, plus AK/SK for SWR)")
@click.option("--images", "images_path", type=click.Path(dir_okay=False),
              help="rules `source: destination(s)` (JSON or YAML, image-syncer's images file)")
@click.option("--config", "syncer_config", type=click.Path(dir_okay=False),
              help="image-syncer's deprecated single file with `auth` and `images` (use --auth and --images)")
@click.option("--namespace", envvar="DEFAULT_NAMESPACE", help="organization for destinations that name none")
@click.option("--registry", envvar="DEFAULT_REGISTRY", help="registry host for destinations that name none")
@click.option("--output-success-images", "success_path", type=click.Path(dir_okay=False),
              help="write the images copied or up to date to this file, in the images format (a rerun takes it)")
@click.option("--output-images-format", "success_format", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="the format of --output-success-images")
@click.option("--shard", "shard_text", metavar="INDEX/COUNT",
              help="take only the images whose source repository hashes to INDEX of COUNT (0-based; stable, so "
                   "COUNT workers split one images file with no overlap); default: env JOB_COMPLETION_INDEX "
                   "and SYNC_SHARD_COUNT when set")
@common_options
@click.pass_context
def sync(ctx, auth_path, images_path, syncer_config, namespace, registry, shard_text, **opts):
    """Copy many images, as image-syncer's --auth/--images files describe them, into SWR.

    `swr-bridge sync report FILE...` merges the reports of sharded runs."""
    if ctx.invoked_subcommand:
        return
    from adapter.sync.files import load_config, load_images
    from adapter.sync.plan import make_rule
    from adapter.sync.shards import shard_from

    lenient = opts["lenient"] = Leniency(opts["strict"])
    try:
        shard = opts["shard"] = shard_from(shard_text)
        if syncer_config:
            lenient.warn(f"--config {syncer_config}: image-syncer's single config file is deprecated (there too); "
                         "it is read, but --auth and --images are the files to keep")
            if auth_path or images_path:
                lenient.warn("--config is given: --auth and --images are ignored, as image-syncer ignores them")
            auth_path, rule_list = load_config(syncer_config, lenient)
        elif images_path:
            rule_list = None
        else:
            raise InputError("--images", "give --images FILE (with --auth FILE), or image-syncer's old --config FILE")
    except InputError as exc:
        raise BadInput(str(exc)) from None

    def make_rules(remotes, mapping):
        rules = rule_list if rule_list is not None else load_images(images_path, lenient)
        made = [make_rule(src, dests, where, remotes, registry=registry, namespace=namespace, mapping=mapping,
                          lenient=lenient) for src, dests, where in rules]
        return made if shard is None else [r for r in made if shard.owns(r.source.name)]

    _run(make_rules, auth_path, opts)


@click.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option("--all", "all_platforms", is_flag=True,
              help="copy a multi-arch index whole (default: only this machine's platform, as docker pull)")
@click.option("--auth", "auth_path", type=click.Path(dir_okay=False), help="credentials (sync's auth file format)")
@common_options
def copy(src, dst, all_platforms, auth_path, **opts):
    """Copy one image: SRC and DST are host/repository:tag (or @digest); SRC may be oci:DIR:tag."""
    from adapter.sync.plan import make_rule
    from adapter.sync.references import is_host, parse

    lenient = opts["lenient"] = Leniency(opts["strict"])

    def make_rules(remotes, mapping):
        source = parse(src, "SRC", allow_regex=False, lenient=lenient)
        if "/" not in dst or not is_host(dst.split("/", 1)[0]):
            raise InputError("DST", f"{dst!r} needs a registry host: host/organization/repository[:tag]")
        parse(dst, "DST", allow_regex=False, allow_layout=False, lenient=lenient)
        text = src if source.tags or source.digest else f"{src}:latest"
        return [make_rule(text, [dst], "copy", remotes, mapping=mapping, lenient=lenient)]

    _run(make_rules, auth_path, opts, single=not all_platforms)


@sync.command("report")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def report(files, output):
    """Merge sharded runs: FILES are the shards' `-o json` reports or --output-success-images files (a
    directory: the *.json reports in it, as deploy/sync-job leaves them).

    Counts and bytes are summed, the time is the slowest shard's; exit 1 when an image failed or two
    files hold the same image (shards that overlap)."""
    from adapter.sync.progress import render, to_json
    from adapter.sync.shards import load_reports, merge

    try:
        merged = merge(load_reports(list(files)))
    except InputError as exc:
        raise BadInput(str(exc)) from None
    if output == "json":
        click.echo(to_json(merged))
    else:
        click.echo(f"{merged['shards']} file(s), {merged['done']} image(s) done")
        click.echo(render(merged))
        for twice in merged["overlap"]:
            click.echo(f"  in two shards: {twice['source']} -> {twice['destination']} ({', '.join(twice['files'])})")
        for warning in merged["warnings"]:
            click.echo(f"  warning: {warning}")
    if merged["failed"] or merged["overlap"]:
        raise SystemExit(1)


def register(group) -> None:
    group.add_command(sync)
    group.add_command(copy)
