"""Fixtures for the CLI tests: a running Harbor double whose executions progress, bridge files, a runner."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.doubles.harbor.fixtures import harbor_double  # noqa: F401  (fixture, used by name)
from tests.doubles.harbor.flow import ReplicatingHarborState
from tests.fixtures import secrets_fixture
from tests.unit.cli.helpers import SECRETS, base_document, run


@pytest.fixture
def harbor_state() -> ReplicatingHarborState:
    """The double's state: Harbor's flow on a fast clock (a 0.2 s status lag instead of ~30 s)."""
    return ReplicatingHarborState(lag=0.2, setup=0.05, stagger=0.02, duration=0.05)


secrets_env = secrets_fixture(SECRETS, unset=("HARBOR_URL", "HARBOR_USERNAME", "HARBOR_VERIFY"))


@pytest.fixture
def document(harbor_double) -> dict[str, Any]:  # noqa: F811
    """A fresh, editable copy of the base bridge file pointing at the double."""
    return copy.deepcopy(base_document(harbor_double.url))


@pytest.fixture
def write(tmp_path: Path):
    """write(document or text, name="bridge.yaml") -> the file's path as a str."""

    def put(content: Any, name: str = "bridge.yaml") -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return str(path)

    return put


@pytest.fixture
def bridge(document, write) -> str:
    """The base bridge file, written."""
    return write(document)


@pytest.fixture
def applied(bridge, harbor_double) -> str:  # noqa: F811
    """The base file applied to the double; returns its path."""
    result = run("apply", "-f", bridge, "--yes")
    assert result.exit_code == 0, result.output
    return bridge
