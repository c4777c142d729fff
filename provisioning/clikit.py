"""Shared CLI plumbing: exit codes, the bridge file and Harbor connection options, error translation."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from harbor_client.client import HarborClient
from harbor_client.errors import (
    Forbidden,
    HarborError,
    HarborUnreachable,
    Unauthorized,
    UnsupportedByHarborVersion,
)
from provisioning.bridgefile import BridgeFile, BridgeFileError, load_bridgefile

EXIT_OK = 0
EXIT_FAILED = 1  # a replication or an apply failed (or Harbor refused a call)
EXIT_USAGE = 2  # a usage or config error
EXIT_HARBOR = 3  # Harbor unreachable, or authentication refused


class CliError(click.ClickException):
    """A message on stderr and a chosen exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def stdin_is_terminal() -> bool:
    """Whether a question can be asked (CliRunner's stdin in tests is not a terminal either)."""
    return bool(sys.stdin and sys.stdin.isatty())


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, (HarborUnreachable, Unauthorized, Forbidden)):
        return EXIT_HARBOR
    if isinstance(exc, (BridgeFileError, UnsupportedByHarborVersion)):
        return EXIT_USAGE
    return EXIT_FAILED


@contextmanager
def translated() -> Iterator[None]:
    """Bridge file and Harbor errors become CliErrors with their exit code."""
    try:
        yield
    except (BridgeFileError, HarborError) as exc:
        raise CliError(str(exc), exit_code_for(exc)) from None


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body under `translated()`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated():
            return command(*args, **kwargs)

    return wrapper


def file_option(required: bool) -> Callable[..., Any]:
    help_text = "the bridge file" if required else "a bridge file (for its harbor: section; else HARBOR_* env)"
    return click.option("-f", "--file", "path", required=required, type=click.Path(dir_okay=False),
                        help=help_text)


def load(path: str | None) -> BridgeFile | None:
    return load_bridgefile(path) if path else None


def connect(bridge: BridgeFile | None, environ: Mapping[str, str] | None = None) -> HarborClient:
    """From the file's harbor: section, else HARBOR_URL / HARBOR_USERNAME / HARBOR_PASSWORD / HARBOR_VERIFY."""
    section = bridge.harbor if bridge else None
    if section is None:
        try:
            return HarborClient.from_env(environ)
        except HarborError as exc:
            raise CliError(f"no harbor: section in a bridge file, and {exc}", EXIT_USAGE) from None
    auth = None
    if section.username:
        auth = (section.username, bridge.secret(section.password_env, "harbor.password_env", environ))
    verify: bool | str = section.ca_bundle or section.verify_tls
    return HarborClient(section.url, auth, verify=verify)
