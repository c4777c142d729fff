"""/v2/manage: organizations, repositories and tags, behind SDK-HMAC-SHA256 signatures as SWR's gateway checks."""

from __future__ import annotations

import functools
import json
import zlib
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from flask import Blueprint, g, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from adapter.sandbox import errors
from adapter.sandbox.api import (
    AUTH_MANAGE,
    context,
    create_organization,
    repositories_of,
)
from adapter.sandbox.catalog import declared_size
from adapter.sandbox.errors import SwrError
from adapter.sandbox.state import OrganizationNotFound
from adapter.swr.naming import NamingError, check_repository
from adapter.swr.signer import DATE_FORMAT, SignatureError, parse_authorization, verify

MAX_SKEW = timedelta(minutes=15)
CATEGORIES = ("app_server", "linux", "framework_app", "database", "lang", "other", "windows", "arm")

bp = Blueprint("sandbox_manage", __name__, url_prefix="/v2/manage")


class NamespaceBody(Schema):
    class Meta:
        unknown = EXCLUDE

    namespace = fields.String(required=True)


class ReposQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    namespace = fields.String()
    name = fields.String()
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    order_column = fields.String(validate=validate.OneOf(["updated_time", "name", "tag_count", "namespace",
                                                          "is_public"]))
    order_type = fields.String(validate=validate.OneOf(["desc", "asc"]))
    is_public = fields.Boolean()
    filter = fields.String()


class TagsQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    order_column = fields.String(validate=validate.OneOf(["updated_at", "tag"]))
    order_type = fields.String(validate=validate.OneOf(["desc", "asc"]))
    tag = fields.String()
    filter = fields.String()


def parse_filter(text: str | None) -> dict:
    """`key::value|key::value` as SWR's list endpoints take it."""
    out = {}
    for part in (text or "").split("|"):
        if not part:
            continue
        key, sep, value = part.partition("::")
        if not sep or not key:
            raise errors.bad_request("Invalid filter", f"{part!r} is not key::value")
        out[key] = value
    return out


@functools.cache
def _schemas(schema: type[Schema]) -> tuple[Schema, Schema]:
    return schema(), schema(partial=True)  # built once: a marshmallow schema copies its fields when made


def load_query(schema: type[Schema]) -> dict:
    """A list endpoint's query: plain parameters, overridden by the same keys inside `filter`."""
    whole, partial = _schemas(schema)
    try:
        query = whole.load(request.args.to_dict())
        query.update(partial.load(parse_filter(query.get("filter"))))
    except ValidationError as exc:
        raise errors.bad_request("Invalid query", str(exc.messages)) from None
    return query


def load_json(schema: Schema) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise errors.bad_request("Invalid request body", "the body must be a JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise errors.bad_request("Invalid request body", str(exc.messages)) from None


def _raw_path_and_query() -> tuple[str, list[tuple[str, str]]]:
    # Sign over what the client sent: werkzeug's PATH_INFO is already percent-decoded.
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path, _, query = raw.partition("?")
    else:
        path, query = request.path, request.query_string.decode("latin-1")
    return path, parse_qsl(query, keep_blank_values=True)


def _check_date(value: str | None) -> None:
    try:
        stamp = datetime.strptime(value or "", DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise errors.apigw_unauthorized("X-Sdk-Date header missing or not YYYYMMDDTHHMMSSZ") from None
    if abs(datetime.now(timezone.utc) - stamp) > MAX_SKEW:
        raise errors.apigw_unauthorized("X-Sdk-Date is more than 15 minutes off the server time "
                                        "(request expired or clock skew)")


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization")
    if not header and not request.headers.get("X-Auth-Token"):
        raise errors.no_credentials()
    if not header:  # an IAM token: the sandbox has no IAM, so it takes AK/SK signatures only
        raise errors.apigw_unauthorized("Authorization header missing (SDK-HMAC-SHA256 signature required)")
    try:
        parsed = parse_authorization(header)
    except SignatureError as exc:
        raise errors.apigw_unauthorized(str(exc)) from None
    tenant = context().state.tenant_by_ak(parsed.access)
    if tenant is None:
        raise errors.apigw_unauthorized("access key not found")
    _check_date(request.headers.get("X-Sdk-Date"))
    path, query = _raw_path_and_query()
    lower = {k.lower(): v for k, v in request.headers.items()}
    if not verify(tenant.sk, parsed, request.method, path, query, lower, request.get_data(cache=True)):
        raise errors.apigw_unauthorized("verify aksk signature fail")
    g.tenant = tenant


def namespace_json(org) -> dict:
    return {"id": org.id, "name": org.name, "creator_name": org.creator_name, "auth": AUTH_MANAGE}


def _owned_or_404(name: str):
    # Another tenant's organization is as invisible as a missing one.
    org = context().state.owned(g.tenant, name)
    if org is None:
        raise SwrError(404, errors.ORG_NOT_FOUND, "Namespace not found", name)
    return org


@bp.get("/namespaces")
def list_namespaces():
    wanted = request.args.get("namespace") or parse_filter(request.args.get("filter")).get("namespace")
    orgs = [o for o in context().state.organizations_of(g.tenant) if not wanted or o.name == wanted]
    return jsonify(namespaces=[namespace_json(o) for o in orgs])


@bp.post("/namespaces")
def post_namespace():
    body = load_json(NamespaceBody())
    create_organization(g.tenant, body["namespace"])
    return "", 201


@bp.get("/namespaces/<namespace>")
def get_namespace(namespace):
    return jsonify(namespace_json(_owned_or_404(namespace)))


@bp.delete("/namespaces/<namespace>")
def delete_namespace(namespace):
    _owned_or_404(namespace)
    if any(r.tags for r in repositories_of(g.tenant, [namespace], with_sizes=False)):
        raise SwrError(406, errors.ORG_HAS_IMAGES, "Namespace still holds images; delete them first", namespace)
    try:
        context().state.delete(g.tenant, namespace)
    except OrganizationNotFound:
        raise SwrError(404, errors.ORG_NOT_FOUND, "Namespace not found", namespace) from None
    return "", 204


def repo_json(repo) -> dict:
    """The list-entry shape shared by /v2/manage/repos and /dockyard/v2/repositories."""
    path = f"{context().registry_host}/{repo.full_name}"
    return {
        "name": repo.name, "category": "other", "description": "", "size": repo.size, "is_public": False,
        "num_images": len(repo.tags), "num_download": 0, "created_at": repo.created,
        "updated_at": repo.updated, "logo": "", "url": "", "path": path, "internal_path": path,
        "domain_name": g.tenant.project, "namespace": repo.namespace, "tags": repo.tags, "status": False,
        "total_range": 0,
    }


def _sorted(repos, column, order):
    keys = {"name": lambda r: r.name, "namespace": lambda r: r.namespace, "tag_count": lambda r: len(r.tags),
            "is_public": lambda r: 0, "updated_time": lambda r: r.updated}
    return sorted(repos, key=keys.get(column or "updated_time"), reverse=(order or "desc") == "desc")


@bp.get("/repos")
def list_repos():
    query = load_query(ReposQuery)
    namespaces = [query["namespace"]] if query.get("namespace") else None
    repos = [r for r in repositories_of(g.tenant, namespaces)
             if not query.get("name") or query["name"] in r.name]
    if query.get("category") not in (None, "other") or query.get("is_public") is True:
        repos = []
    repos = _sorted(repos, query.get("order_column"), query.get("order_type"))
    offset, limit = query["offset"], query["limit"]
    page = [dict(repo_json(r), total_range=len(repos)) for r in repos[offset:offset + limit]]
    return _ranged(page, offset, len(repos))


def _ranged(page: list, offset: int, total: int):
    response = jsonify(page)
    response.headers["Content-Range"] = f"{offset}-{len(page)}/{total}"
    return response


def _repository_name(repository: str) -> str:
    """The repository a path segment names (its "/" written "$"), refused as SWR does when the name breaks
    the rules (400 SVCSTG.SWR.4001029)."""
    name = repository.replace("$", "/")
    try:
        check_repository(name)
    except NamingError as exc:
        raise SwrError(400, errors.BAD_IMAGE_NAME, "Invalid image name", str(exc)) from None
    return name


@bp.get("/namespaces/<namespace>/repos/<repository>")
def get_repo(namespace, repository):
    _owned_or_404(namespace)
    name = _repository_name(repository)
    for repo in repositories_of(g.tenant, [namespace]):
        if repo.name == name:
            return jsonify(_repo_detail(repo))
    raise SwrError(404, errors.REPO_NOT_FOUND, "Repository not found", f"{namespace}/{name}")


def _repo_detail(repo) -> dict:
    org = context().state.organization(repo.namespace)
    entry = repo_json(repo)
    return {
        "id": repo.id, "ns_id": org.id, "name": repo.name, "category": "other", "description": "",
        "creator_id": g.tenant.ak, "creator_name": org.creator_name, "size": repo.size, "is_public": False,
        "num_images": len(repo.tags), "num_download": 0, "url": "", "path": entry["path"],
        "internal_path": entry["internal_path"], "created": repo.created, "updated": repo.updated,
        "domain_id": g.tenant.project, "priority": 0,
    }


@bp.get("/namespaces/<namespace>/repos/<repository>/tags")
def list_tags(namespace, repository):
    _owned_or_404(namespace)
    name = _repository_name(repository)
    query = load_query(TagsQuery)
    entries = context().catalog.tag_entries(f"{namespace}/{name}")
    if entries is None:
        raise SwrError(404, errors.REPO_NOT_FOUND, "Repository not found", f"{namespace}/{name}")
    entries = [e for e in entries if not query.get("tag") or query["tag"] in e.tag]
    key = (lambda e: e.tag) if query.get("order_column") == "tag" else (lambda e: e.updated)
    entries.sort(key=key, reverse=(query.get("order_type") or "desc") == "desc")
    offset, limit = query["offset"], query["limit"]
    page = [_tag_json(namespace, name, e) for e in entries[offset:offset + limit]]
    return _ranged(page, offset, len(entries))


def _tag_json(namespace: str, name: str, entry) -> dict:
    try:
        doc = json.loads(entry.manifest)
    except ValueError:
        doc = {}
    media_type = doc.get("mediaType", "") if isinstance(doc, dict) else ""
    config = (doc.get("config") or {}) if isinstance(doc, dict) else {}
    path = f"{context().registry_host}/{namespace}/{name}:{entry.tag}"
    return {
        "id": zlib.crc32(f"{namespace}/{name}:{entry.tag}".encode()) & 0x7FFFFFFF,
        "repo_id": zlib.crc32(f"{namespace}/{name}".encode()) & 0x7FFFFFFF,
        "Tag": entry.tag, "image_id": str(config.get("digest", "")).partition(":")[2],
        "manifest": entry.manifest.decode("utf-8", "replace"), "digest": entry.digest, "schema": 2,
        "path": path, "internal_path": path, "size": declared_size(doc), "is_trusted": False,
        "created": entry.created, "updated": entry.updated, "deleted": None, "domain_id": g.tenant.project,
        "scanned": False, "tag_type": 1 if "list" in media_type or "index" in media_type else 0,
    }
