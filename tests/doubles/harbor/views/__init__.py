"""One blueprint per Harbor API area; add a module here and list it in `blueprints()` to extend the double."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    from tests.doubles.harbor.views import (
        executions,
        policies,
        projects,
        registries,
        repositories,
        system,
        webhooks,
    )

    return [system.bp, projects.bp, registries.bp, policies.bp, executions.bp, webhooks.bp, repositories.bp]
