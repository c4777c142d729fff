"""`swr-bridge events|summaries|deliveries`: the webhook bridge's API over HTTP, with a bearer token from env."""

from __future__ import annotations

import functools
import os
import re

import click
import requests

from harbor_client.units import http_url_problem
from provisioning.printers import emit, output_option, table

DEFAULT_URL = "http://127.0.0.1:8080"
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")  # what requests refuses in a header value (InvalidHeader)


class ApiUsageError(click.ClickException):
    """The bridge refused the request as malformed (400): a flag was wrong, so exit 2 as for any bad flag."""

    exit_code = 2


class ApiClient:
    """One Session, one `_request()` that always sets a timeout and turns API errors into ClickExceptions."""

    def __init__(self, url: str, token: str, session: requests.Session | None = None, timeout=(3.05, 30)):
        self.base = url.rstrip("/") + "/api/v1"
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def _request(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise click.ClickException(f"{self.base}: not reachable ({type(exc).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            problem = body.get("error", {}) if isinstance(body, dict) else {}
            detail = problem.get("fields") or ""
            error = ApiUsageError if response.status_code == 400 else click.ClickException
            raise error(f"{response.status_code} {problem.get('code', 'ERROR')}: "
                        f"{problem.get('message', response.reason)} {detail}".rstrip())
        return body

    def get(self, path: str, **params) -> dict:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str) -> dict:
        return self._request("POST", path)


def _output(command):
    """`-o table|json|yaml` as every listing command takes it; `--json` stays as the older spelling."""
    @functools.wraps(command)  # keeps the options already attached to `command`
    def with_alias(*args, as_json: bool = False, fmt: str = "table", **kwargs):
        return command(*args, fmt="json" if as_json else fmt, **kwargs)
    with_alias = click.option("--json", "as_json", is_flag=True, hidden=True, help="the same as -o json")(with_alias)
    return output_option(with_alias)


def api_options(command):
    command = _output(command)
    command = click.option("--token-env", default="BRIDGE_API_TOKEN", show_default=True,
                           help="env variable holding the API bearer token")(command)
    return click.option("--url", envvar="SWR_BRIDGE_URL", default=DEFAULT_URL, show_default=True, callback=_base_url,
                        help="the bridge's base URL (env SWR_BRIDGE_URL)")(command)


def _base_url(ctx, param, value: str) -> str:
    """--url as http(s)://host[:port][/path], without a password: it is printed in every error line."""
    problem = http_url_problem(value)
    if problem == "form":
        raise click.BadParameter("expected http(s)://host[:port], e.g. http://127.0.0.1:8080")
    if problem == "password":
        raise click.BadParameter("must not carry a password; the API token comes from --token-env")
    return value


def _instant(ctx, param, value: str | None) -> str | None:
    """--since/--until checked here with the parser the bridge's API uses, so a typo is exit 2, not a 400."""
    if value is None:
        return None
    from marshmallow import ValidationError

    from adapter.webhooks.config import Instant

    try:
        Instant().deserialize(value)
    except ValidationError:
        raise click.BadParameter(f"expected an ISO 8601 time such as 2026-12-04T20:30:00Z, got {value[:64]!r}") from None
    return value


def client(url: str, token_env: str) -> ApiClient:
    token = os.environ.get(token_env)
    if not token:
        raise click.UsageError(f"the API token is read from env {token_env}, which is not set")
    if _HEADER_UNSAFE.search(token):  # named, never shown: it is a secret
        raise click.UsageError(f"env {token_env} holds a control character (a newline?), which no token has")
    return ApiClient(url, token)


def show(found: dict, fmt: str, columns: list[str] | None = None) -> None:
    """A listing's items as a table of `columns`, one object as `key  value` lines; or the API's document."""
    if fmt == "table" and columns is not None:
        click.echo(table(found["items"], columns))
        if found.get("next"):
            click.echo(f"more: --after {found['next']}")
    else:
        emit(found, fmt)


def page_options(command):
    """--limit and --after, the cursor the previous page printed (`more: --after ...`, or `next` in --json)."""
    command = click.option("--after", metavar="CURSOR", help="the page after the one that printed this cursor")(command)
    return click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)(command)


@click.group()
def events():
    """Events Harbor sent to the bridge."""


@events.command("list")
@api_options
@click.option("--status", type=click.Choice(["running", "succeeded", "failed", "stopped"]))
@click.option("--execution", "execution_id", type=int)
@click.option("--type", "event_type")
@page_options
def events_list(url, token_env, fmt, status, execution_id, event_type, limit, after):
    """List stored events, newest first."""
    found = client(url, token_env).get("/events", status=status, execution_id=execution_id,
                                       event_type=event_type, limit=limit, after=after)
    show(found, fmt, ["id", "received_at", "event_type", "execution_id", "task_id", "job_status", "project"])


@events.command("show")
@api_options
@click.argument("event_id", type=int)
def events_show(url, token_env, fmt, event_id):
    """One event with its payload as Harbor sent it."""
    show(client(url, token_env).get(f"/events/{event_id}"), fmt)


@click.group("summaries")
def executions():
    """Execution summaries the bridge grouped Harbor's events into (`executions` is Harbor's own)."""


@executions.command("list")
@api_options
@click.option("--state", type=click.Choice(["open", "final"]))
@click.option("--status", type=click.Choice(["succeeded", "failed", "stopped"]))
@click.option("--policy", help="only this replication policy's executions")
@click.option("--since", callback=_instant, help="active at or after this time (ISO 8601, UTC unless it names a zone)")
@click.option("--until", callback=_instant, help="last active before this time (ISO 8601)")
@page_options
def executions_list(url, token_env, fmt, state, status, policy, since, until, limit, after):
    """List executions, most recently active first."""
    found = client(url, token_env).get("/executions", state=state, status=status, policy=policy, since=since,
                                       until=until, limit=limit, after=after)
    show(found, fmt, ["execution_id", "key", "state", "status", "policy", "project", "events", "last_event_at"])


@executions.command("show")
@api_options
@click.argument("execution_id", type=int)
def executions_show(url, token_env, fmt, execution_id):
    """One execution by Harbor's id or by its key: its summary and its tasks.

    A group of events without ids (Harbor < 2.13) has a negative key: `summaries show -- -123`."""
    show(client(url, token_env).get(f"/executions/{execution_id}"), fmt)


@click.group()
def deliveries():
    """Alert deliveries in the outbox."""


@deliveries.command("list")
@api_options
@click.option("--state", type=click.Choice(["pending", "delivered", "dead"]))
@click.option("--sink")
@page_options
def deliveries_list(url, token_env, fmt, state, sink, limit, after):
    """List deliveries, newest first (--state dead for the dead letters)."""
    found = client(url, token_env).get("/deliveries", state=state, sink=sink, limit=limit, after=after)
    show(found, fmt, ["id", "state", "sink", "attempts", "last_error", "alert", "title"])


@deliveries.command("replay")
@api_options
@click.argument("delivery_id", type=int)
def deliveries_replay(url, token_env, fmt, delivery_id):
    """Queue a dead (or delivered) delivery again, with a fresh set of attempts."""
    found = client(url, token_env).post(f"/deliveries/{delivery_id}/replay")
    if fmt != "table":
        show(found, fmt)
    else:
        click.echo(f"delivery {delivery_id} to {found['sink']} queued again")


def register(main) -> None:
    main.add_command(events)
    main.add_command(deliveries)
    main.add_command(executions)
