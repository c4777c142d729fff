"""/dockyard/v2: the calls Harbor's huawei-SWR adapter makes on the registry host, with Basic login auth."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from adapter.sandbox.api import (
    AUTH_MANAGE,
    context,
    create_organization,
    repositories_of,
    require_basic_tenant,
)
from adapter.sandbox.manage import NamespaceBody, load_json, parse_filter, repo_json

bp = Blueprint("sandbox_dockyard", __name__, url_prefix="/dockyard/v2")


@bp.before_request
def authenticate():
    g.tenant = require_basic_tenant()


def hw_namespace(org) -> dict:
    """Harbor's hwNamespace; image_count counts repositories that still hold a tag."""
    repos = repositories_of(g.tenant, [org.name], with_sizes=False)
    return {"id": org.id, "name": org.name, "creator_name": org.creator_name, "auth": AUTH_MANAGE,
            "user_count": 1, "image_count": sum(1 for r in repos if r.tags)}


@bp.get("/namespaces/<namespace>")
def get_namespace(namespace):
    # Harbor treats any non-2xx here as fatal for the whole execution, so a missing one is `200 {}`.
    org = context().state.owned(g.tenant, namespace)
    return jsonify(hw_namespace(org) if org else {})


@bp.post("/namespaces")
def post_namespace():
    body = load_json(NamespaceBody())
    create_organization(g.tenant, body["namespace"])
    return jsonify({}), 201


@bp.get("/visible/namespaces")
def visible_namespaces():
    return jsonify(namespaces=[hw_namespace(o) for o in context().state.organizations_of(g.tenant)])


@bp.get("/repositories")
def repositories():
    # Harbor sends filter=center::self; other filter keys are accepted and, like SWR's, ignored.
    flt = parse_filter(request.args.get("filter"))
    if flt.get("center", "self") != "self":
        return jsonify([])
    repos = sorted(repositories_of(g.tenant), key=lambda r: r.full_name)
    return jsonify([dict(repo_json(r), total_range=len(repos)) for r in repos])

