"""`swr-bridge serve`: validate the config, then run the app under gunicorn."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

import click

from adapter.config import BridgeConfig, ConfigError, load_config

# prometheus_client's multiprocess files ("counter_1234.db", "gauge_livesum_1234.db"): nothing else is removed.
WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR
METRIC_FILE = re.compile(r"^(counter|histogram|summary|gauge_[a-z]+)_\d+\.db$")


def load_or_exit(path: str | None) -> BridgeConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in str(exc).splitlines():  # every problem at once, each with its key path
            click.echo(f"error: {line}", err=True)
        sys.exit(2)


def exit_on_bad_env(config: BridgeConfig, source: str = "<config>") -> None:
    """Exit 2 naming each malformed tuning variable and each unset secret variable the config names,
    before anything is started or written."""
    from adapter.gunicorn_conf import env_problems
    from adapter.webhooks.config import required_env

    problems = env_problems() + [f"{source}: {key}: environment variable {name} is not set"
                                 for key, name in required_env(config.webhooks, config.api) if not os.environ.get(name)]
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(2)


def prepare_metrics_dir() -> str:
    """PROMETHEUS_MULTIPROC_DIR for the workers' metric files: cleared of earlier runs' files here, before
    they fork. An environment variable because prometheus_client reads it there (its contract, not ours)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if METRIC_FILE.match(name):  # samples of an earlier run would be summed into this one's
                os.unlink(os.path.join(path, name))
    else:
        path = tempfile.mkdtemp(prefix="swr-bridge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def run_gunicorn(config: BridgeConfig, overrides: dict | None = None) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.errors import HaltServer

    from adapter import create_app
    from adapter.gunicorn_conf import settings
    from adapter.registry.tokens import instance_key_from_env
    from adapter.throttle import fresh_file

    # Decided once, before gunicorn forks, and handed to every worker: the key that seals tokens and
    # the bandwidth budget (a fresh file of ours: nothing named from outside is ever emptied).
    key = instance_key_from_env(config.instance_key_env)
    # The secrets SWR refused (adapter.registry.logins) and the upload seats at SWR (adapter.upload_seats)
    # are shared by this instance's workers through files too.
    created = [fresh_file(f"swr-bridge-{name}-") for name in ("budget", "logins", "seats")]
    budget_file, login_file, seats_file = created  # temporary files of ours, removed when gunicorn exits
    had_metrics_dir = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    metrics_dir = prepare_metrics_dir()
    if not had_metrics_dir:
        created.append(metrics_dir)

    class Application(BaseApplication):
        def load_config(self):
            for name, value in {**settings(config.listen), **(overrides or {})}.items():
                self.cfg.set(name, value)

        def load(self):
            try:
                return create_app(config, budget_file=budget_file, instance_key=key, login_file=login_file,
                                  seats_file=seats_file)
            except ConfigError as exc:  # e.g. a store that cannot be opened: its line, not a traceback
                click.echo(f"error: {exc}", err=True)
                sys.exit(WORKER_BOOT_ERROR)  # gunicorn's code for it: the arbiter stops instead of respawning

    master = os.getpid()
    try:
        Application().run()
    except HaltServer as halt:  # a worker failed to boot: it said why; gunicorn would add a traceback
        click.echo(f"error: {halt.reason}", err=True)
        raise SystemExit(halt.exit_status) from None
    except SystemExit as end:
        if os.getpid() != master:
            _worker_exit(end.code)
        raise
    finally:
        if os.getpid() == master:
            _remove(created)


def _worker_exit(code) -> None:
    """Ends a gunicorn worker here. gunicorn ends its workers with SystemExit, which would unwind through
    the frames the worker inherited from the fork: this function's cleanup (the files the instance's other
    workers still use) and its callers' (`swr-bridge run` would stop the sandbox for everyone)."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _remove(paths) -> None:
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="SWR_BRIDGE_CONFIG",
              help="swr-bridge.yaml (env SWR_BRIDGE_CONFIG); embedded defaults when absent")
@click.option("--check", is_flag=True, help="validate the config file and exit (0 valid, 2 invalid)")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="gunicorn worker processes")
def serve(config_path, check, workers):
    """Run the endpoint (and the webhook bridge, when configured) under gunicorn."""
    config = load_or_exit(config_path)
    if check:
        click.echo(f"ok: {config_path or '<defaults>'} is valid")
        return
    exit_on_bad_env(config, config_path or "<defaults>")
    run_gunicorn(config, {"workers": workers} if workers else None)


def register(main) -> None:
    main.add_command(serve)
