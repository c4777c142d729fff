"""System and projects against the double: ping, systeminfo, version, projects by name or id."""

from __future__ import annotations

import pytest

from harbor_client import HarborClient, HarborVersion, NotFound


def test_ping(harbor_double, harbor):
    assert harbor.system.ping() == "Pong"
    assert harbor_double.last("GET", "/ping").headers["Accept"] == "text/plain"


def test_systeminfo_and_version(harbor_double, harbor_state, harbor):
    harbor_state.harbor_version = "v2.14.1-0a1b2c3d"
    info = harbor.system.info()
    assert info.harbor_version == "v2.14.1-0a1b2c3d" and info.version == HarborVersion(2, 14, 1)
    assert info.notification_enable is True and info.read_only is False
    assert info.extra["registry_storage_provider_name"] == "filesystem"  # an unknown field is kept
    assert harbor.system.version() == HarborVersion(2, 14, 1)
    harbor.system.version()
    assert harbor_double.count("GET", "/systeminfo") == 2  # info() once, version() once (then cached)


def test_anonymous_systeminfo_has_no_version(harbor_double):
    with HarborClient(harbor_double.url, None) as anonymous:
        info = anonymous.system.info()
        assert info.harbor_version is None and info.auth_mode == "db_auth"
        assert anonymous.harbor_version is None


def test_project_by_name_sends_is_resource_name(harbor_double, harbor):
    project = harbor.projects.get("library")
    assert (project.project_id, project.name, project.metadata) == (1, "library", {"public": "true"})
    assert harbor_double.last("GET", "/projects/{project_name_or_id}").headers["X-Is-Resource-Name"] == "true"


def test_project_with_an_all_digit_name(harbor_state, harbor):
    # Without X-Is-Resource-Name Harbor would read "2024" as project id 2024.
    harbor_state.add_project("2024")
    assert harbor.projects.get("2024").name == "2024"
    assert harbor.projects.get(2).name == "2024"


def test_project_not_found(harbor):
    with pytest.raises(NotFound, match="project nope not found"):
        harbor.projects.get("nope")
    with pytest.raises(NotFound):
        harbor.projects.get(99)
