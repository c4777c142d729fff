"""System endpoints: liveness and version."""

from __future__ import annotations

from harbor_client.models import GeneralInfo
from harbor_client.resources._base import Resource
from harbor_client.schemas import load
from harbor_client.versions import HarborVersion


class SystemResource(Resource):
    # GET /ping
    def ping(self) -> str:
        """Harbor's liveness answer, "Pong"."""
        return self._client.get("/ping", accept="text/plain").text

    # GET /systeminfo
    def info(self) -> GeneralInfo:
        """General info; `harbor_version` needs an authenticated client."""
        return load(GeneralInfo, self._client.get("/systeminfo").json())

    def version(self) -> HarborVersion | None:
        """The connected Harbor's version (cached by the client)."""
        return self._client.harbor_version
