"""/registries: list, create, get, update (merge), delete, ping -- with Harbor's validation and masking."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify

from tests.doubles.harbor.common import (
    body,
    created,
    fail,
    found,
    harbor_error,
    name_free,
    ok,
    page_of,
    route,
    select,
    state,
    wire,
)
from tests.doubles.harbor.state import now

bp = Blueprint("registries", __name__)

# src/pkg/reg/model/registry.go, the 15 types with a registered adapter (harbor.md §1.3).
REGISTRY_TYPES = {"harbor", "docker-hub", "docker-registry", "huawei-SWR", "google-gcr", "aws-ecr", "azure-acr",
                  "ali-acr", "jfrog-artifactory", "quay", "gitlab", "dtr", "tencent-tcr", "github-ghcr",
                  "volcengine-cr"}
MASK = "*****"


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The registry as GET shows it: a stored secret is masked."""
    shown = copy.deepcopy(record)
    if (shown.get("credential") or {}).get("access_secret"):
        shown["credential"]["access_secret"] = MASK
    return wire("Registry", shown)


def normalise_url(raw: str) -> str | None:
    """lib.ValidateHTTPURL: trim, drop a trailing '/', default to http://, keep scheme://host+path only."""
    text = raw.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def check(record: dict[str, Any], registry_id: int | None = None) -> None:
    """Harbor's validate() on create and update, then its live health check."""
    name = record.get("name") or ""
    if not name or len(name) > 64:
        fail(400, "the registry name must be 1 to 64 characters")
    if record.get("type") not in REGISTRY_TYPES:
        fail(400, f"adapter factory for {record.get('type')} not found")
    if not record.get("url"):
        fail(400, f"invalid url: {record.get('_raw_url')!r}")
    name_free(state().registries, name, registry_id, "registry")
    check_health(record)


def check_health(record: dict[str, Any]) -> None:
    # huawei-SWR's health check makes no call at all (harbor.md §1.5), so it is always healthy.
    if record["type"] != "huawei-SWR" and record["url"] in state().unhealthy_urls:
        fail(400, "the registry is unhealthy")


def credential(kind: str | None, key: str | None, secret: str | None) -> dict[str, Any] | None:
    # Harbor only persists a credential that has an access key.
    return {"type": kind or "basic", "access_key": key, "access_secret": secret or ""} if key else None


def _registry(registry_id: int) -> dict[str, Any]:
    return found(state().registries.get(registry_id), f"registry {registry_id}")


@route(bp, "GET", "/registries")
def list_registries(**_):
    items = select(sorted(state().registries.values(), key=lambda r: r["id"]), {"name", "type", "url", "id"})
    return page_of([public(r) for r in items], "Registry")


@route(bp, "POST", "/registries")
def create_registry(**_):
    data, cred = body(), body().get("credential") or {}
    record = {"name": data.get("name"), "type": data.get("type"), "_raw_url": data.get("url", ""),
              "url": normalise_url(data.get("url", "")), "insecure": bool(data.get("insecure")),
              "description": data.get("description", ""), "ca_certificate": data.get("ca_certificate"),
              "credential": credential(cred.get("type"), cred.get("access_key"), cred.get("access_secret"))}
    check(record)
    new = state().add_registry(record.pop("name"), record.pop("url"), type=record.pop("type"), **record)
    return created(new["id"])


@route(bp, "GET", "/registries/{id}")
def get_registry(id: int):
    return jsonify(public(_registry(id)))


@route(bp, "PUT", "/registries/{id}")
def update_registry(id: int):
    record = _registry(id)
    merged, data = copy.deepcopy(record), body()
    merged.update({k: data[k] for k in ("name", "description", "insecure", "ca_certificate") if data.get(k) is not None})
    if data.get("url") is not None:
        merged["_raw_url"], merged["url"] = data["url"], normalise_url(data["url"])
    old = merged.get("credential") or {}
    secret = data.get("access_secret")
    if secret is None and merged["url"] != record["url"]:
        secret = ""  # HEAD: a new URL without a new secret must not keep the old secret
    merged["credential"] = credential(data.get("credential_type") or old.get("type"),
                                      data.get("access_key", old.get("access_key")),
                                      old.get("access_secret") if secret is None else secret)
    check(merged, id)
    record.update(merged, update_time=now())
    return ok()


@route(bp, "DELETE", "/registries/{id}")
def delete_registry(id: int):
    _registry(id)
    if state().registry_in_use(id):
        return harbor_error(412, f"the registry {id} is referenced by replication policies, can not delete it")
    del state().registries[id]
    return ok()


@route(bp, "POST", "/registries/ping")
def ping_registry(**_):
    data = body()
    if data.get("id") is not None:
        stored = _registry(data["id"])
        # With an id only the type and the credential may be overridden (HEAD).
        target = {**stored, "type": data.get("type") or stored["type"]}
    elif not data.get("type") or not data.get("url"):
        return harbor_error(400, "type or url cannot be empty")
    else:
        target = {"type": data["type"], "url": normalise_url(data["url"])}
    check_health(target)
    return ok()
