"""Fixtures for harbor_client tests: the Harbor double and a client pointed at it."""

from __future__ import annotations

import pytest

from harbor_client import HarborClient
from tests.doubles.harbor import ADMIN
from tests.doubles.harbor.fixtures import harbor_double, harbor_state  # noqa: F401  (fixtures, used by name)


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the client asked for (it never really sleeps in tests)."""
    return []


@pytest.fixture
def harbor(harbor_double, sleeps):  # noqa: F811
    """A HarborClient logged in as admin against the double."""
    with HarborClient(harbor_double.url, ADMIN, sleep=sleeps.append) as client:
        yield client


@pytest.fixture
def relay(harbor_state):  # noqa: F811
    """A seeded docker-registry endpoint, as a stored record."""
    return harbor_state.add_registry("relay", "https://relay.example.com", access_key="harbor", access_secret="s3cret")

