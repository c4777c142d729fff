"""The layering rules of ARCHITECTURE.md, checked on the import graph (imports inside functions count too)."""

from __future__ import annotations

import pytest

from tests.unit.architecture.graph import closure, imports, modules, reaches, under

CORE = under("adapter.transfer", "adapter.swr", "adapter.sync")


def test_the_graph_sees_the_tree():
    assert "adapter.transfer.client" in modules() and "adapter.sync.remote" in modules()
    assert "adapter.transfer.auth" in imports("adapter.transfer.client")
    assert reaches("adapter.registry.views", "flask")  # the rule below can fail


@pytest.mark.parametrize("module", CORE)
def test_the_core_and_the_sync_never_import_flask(module):
    assert reaches(module, "flask") == [] and reaches(module, "werkzeug") == []


@pytest.mark.parametrize("module", under("adapter.transfer"))
def test_the_transfer_core_stands_on_nothing_else_of_the_project(module):
    assert {m for m in closure(module) if m.split(".")[0] in ("adapter", "harbor_client")} <= {
        m for m in closure(module) if m == "adapter" or m.startswith("adapter.transfer")}


@pytest.mark.parametrize("module", under("adapter.swr"))
def test_swr_stands_on_the_transfer_core_only(module):
    for other in ("adapter.registry", "adapter.sync", "adapter.webhooks", "adapter.dockyard"):
        assert reaches(module, other) == []


@pytest.mark.parametrize("module", under("adapter.sync"))
def test_the_sync_never_imports_the_v2_surface(module):
    assert reaches(module, "adapter.registry") == []


@pytest.mark.parametrize("module", under("adapter.registry"))
def test_the_v2_surface_never_imports_the_sync(module):
    assert reaches(module, "adapter.sync") == []


@pytest.mark.parametrize("module", under("harbor_client"))
def test_the_harbor_client_is_a_rest_client_only(module):
    """No provisioning, no click, no YAML, nothing of the endpoint: what another program would reuse."""
    for other in ("provisioning", "click", "yaml", "adapter"):
        assert reaches(module, other) == []


def test_provisioning_stands_on_the_client():
    assert reaches("provisioning.provision", "harbor_client.client")
