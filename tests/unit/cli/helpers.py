"""Helpers for the CLI tests: the base bridge file and an in-process `swr-bridge` runner."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from adapter.cli import main

SECRETS = {"HARBOR_PASSWORD": "Harbor12345", "SWR_SECRET": "sk-first-0123456789", "BRIDGE_WEBHOOK_TOKEN": "hook-token-42"}


def base_document(url: str) -> dict[str, Any]:
    """A bridge file like the issue's: one endpoint, one rule, one webhook, Harbor at `url`."""
    return {
        "harbor": {"url": url, "username": "admin", "password_env": "HARBOR_PASSWORD", "verify_tls": True},
        "endpoints": [{"name": "otc-eu-de", "provider": "docker-registry", "url": "https://swr-bridge.example.com",
                       "access_id": "eu-de@AKEXAMPLE", "access_secret_env": "SWR_SECRET",
                       "verify_remote_cert": True}],
        "rules": [{"name": "library-to-swr", "endpoint": "otc-eu-de",
                   "source": {"project": "library", "repositories": "**", "tags": "**", "labels": []},
                   "destination": {"namespace": "dev-container", "flatten": "all"}, "trigger": "manual",
                   "bandwidth": "unlimited", "override": True, "replicate_deletion": False, "copy_by_chunk": False,
                   "enabled": True}],
        "webhooks": [{"project": "library", "url": "https://swr-bridge.example.com/webhooks/harbor",
                      "auth_header_env": "BRIDGE_WEBHOOK_TOKEN", "format": "Default", "events": ["REPLICATION"]}],
    }


def run(*args: str, input: str | None = None) -> Result:
    """`swr-bridge ARGS` in-process, through the real entry point (lazy command loading included)."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
