"""pytest fixtures for the Harbor double; import them into a conftest.py to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.harbor.server import HarborDouble
from tests.doubles.harbor.state import HarborState


@pytest.fixture
def harbor_state() -> HarborState:
    """A fresh HarborState (project `library`, user admin/Harbor12345, version v2.15.2); seed it freely."""
    return HarborState()


@pytest.fixture
def harbor_double(harbor_state: HarborState) -> Iterator[HarborDouble]:
    """A running HarborDouble over `harbor_state`; the test fails if any contract violation was recorded."""
    with HarborDouble(harbor_state) as double:
        yield double
    double.assert_no_violations()
