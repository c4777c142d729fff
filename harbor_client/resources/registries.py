"""Registries (replication endpoints): list, get, create, update, delete, ping, get by name."""

from __future__ import annotations

from typing import Any

from harbor_client.models import MASKED_SECRET, Registry, RegistryPing, RegistryUpdate
from harbor_client.pagination import Pages, list_params, query
from harbor_client.resources._base import Resource
from harbor_client.schemas import dump, load


def _body(definition: str, obj: Any) -> dict[str, Any]:
    body = dump(obj)
    secret = body.get("access_secret") or (body.get("credential") or {}).get("access_secret")
    if secret == MASKED_SECRET:
        # GET masks stored secrets; sending the mask back would make "*****" the password.
        raise ValueError(f"{definition}: access_secret is the masked '{MASKED_SECRET}' from a GET; "
                         "leave it unset to keep the stored secret")
    return body


class RegistriesResource(Resource):
    # GET /registries
    def list(self, q: str | None = None, sort: str | None = None, page_size: int = 100) -> Pages[Registry]:
        """All registries matching `q` (see `harbor_client.pagination.query`)."""
        params = list_params(q, sort, page_size)
        return self._client.pages("/registries", params, lambda item: load(Registry, item))

    # GET /registries/{id}
    def get(self, registry_id: int) -> Registry:
        return load(Registry, self._client.get(f"/registries/{int(registry_id)}").json())

    def get_by_name(self, name: str) -> Registry | None:
        """The registry with exactly this name, or None."""
        return next((r for r in self.list(q=query(name=name)) if r.name == name), None)

    # POST /registries
    def create(self, registry: Registry) -> int:
        """Create; returns the new id (from Location). Harbor health-checks the URL first."""
        body = self._client.check_version("Registry", _body("Registry", registry))
        return self._client.created_id(self._client.post("/registries", json=body))

    # PUT /registries/{id}
    def update(self, registry_id: int, changes: RegistryUpdate) -> None:
        """Merge `changes` (flat credential fields) into the stored registry."""
        body = self._client.check_version("RegistryUpdate", _body("RegistryUpdate", changes))
        self._client.put(f"/registries/{int(registry_id)}", json=body)

    # DELETE /registries/{id}
    def delete(self, registry_id: int) -> None:
        """Delete; PreconditionFailed while a policy or proxy-cache project still uses it."""
        self._client.delete(f"/registries/{int(registry_id)}")

    # POST /registries/ping
    def ping(self, target: RegistryPing) -> None:
        """Health-check a stored (`id`) or prospective registry; BadRequest when unhealthy."""
        body = self._client.check_version("RegistryPing", _body("RegistryPing", target))
        self._client.post("/registries/ping", json=body)
