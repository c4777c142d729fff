"""The shared base of the resource classes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harbor_client.client import HarborClient


class Resource:
    """Holds the client; subclasses only map methods to routes and models."""

    def __init__(self, client: HarborClient):
        self._client = client
