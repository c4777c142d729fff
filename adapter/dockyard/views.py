"""Answers Harbor's huawei-SWR adapter the way SWR does, backed by the SWR API of the caller's identity."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from adapter.registry.auth import parse_basic
from adapter.registry.errors import RegistryError
from adapter.registry.service import service
from adapter.swr.principal import Principal

bp = Blueprint("dockyard", __name__)


class CreateNamespaceSchema(Schema):
    namespace = fields.String(required=True, validate=validate.Length(min=1, max=64))


def _swr_error(status: int, code: str, message: str) -> Response:
    # SWR's own error shape, so Harbor logs read the same as against the real service.
    body = {"errors": [{"errorCode": code, "errorMessage": message}]}
    return Response(jsonify(body).get_data(), status=status, mimetype="application/json")


def _principal() -> Principal:
    basic = parse_basic(request.headers.get("Authorization", ""))
    if basic is None:
        raise RegistryError("UNAUTHORIZED", "Basic credentials required", status=401)
    return service().auth.check_basic(*basic, request.remote_addr or "")


def _namespace(org: dict | None) -> dict:
    if not org:
        return {}
    return {"id": org.get("id", 0), "name": org["name"], "creator_name": org.get("creator_name", ""),
            "auth": org.get("auth", 7), "user_count": org.get("user_count", 0),
            "image_count": org.get("image_count", 0)}


def _organization_for(ns: str) -> str:
    """The SWR organization that Harbor's destination namespace lands in. Harbor's PrepareForPush
    names the first component of the destination repository; the endpoint's mapping may send
    `<ns>/...` elsewhere (`library/**` -> `dev-container`), and creating `ns` itself would be wrong."""
    from adapter.swr.mapping import map_repository

    try:
        return map_repository(service().rules, f"{ns}/x").split("/")[0]
    except ValueError:
        return ns


@bp.get("/dockyard/v2/namespaces/<ns>")
def get_namespace(ns: str):
    principal = _principal()
    org = service().orgs.client(principal).get_organization(_organization_for(ns))
    found = _namespace(org)
    if found:
        found["name"] = ns  # Harbor compares the name with the namespace it asked for
    return jsonify(found)  # 200 {} when missing: a 404 would abort Harbor's execution


@bp.post("/dockyard/v2/namespaces")
def create_namespace():
    principal = _principal()
    try:
        data = CreateNamespaceSchema().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        return _swr_error(400, "SVCSTG.SWR.4000001", f"invalid body: {exc.messages}")
    from adapter.swr.naming import NamingError, check_organization

    org = _organization_for(data["namespace"])
    try:
        check_organization(org)
    except NamingError as exc:
        return _swr_error(400, "SVCSTG.SWR.4001028", str(exc))
    service().orgs.ensure(principal, org)
    return Response(None, status=201)


@bp.get("/dockyard/v2/visible/namespaces")
def visible_namespaces():
    principal = _principal()
    orgs = service().orgs.client(principal).list_organizations()
    return jsonify({"namespaces": [_namespace(o) for o in orgs]})


@bp.get("/dockyard/v2/repositories")
def repositories():
    principal = _principal()
    return jsonify(service().orgs.client(principal).list_repositories())


@bp.get("/swr/auth/v2/registry/auth")
@bp.get("/swr/auth/v2/registry/auth/")
def swr_token():
    """SWR's token path; Harbor's huawei-SWR adapter fetches its Bearer token here."""
    svc = service()
    principal = _principal()
    scopes = [s for value in request.args.getlist("scope") for s in value.split(" ") if s]
    return jsonify(svc.auth.issue(principal, [_push_deletes(s) for s in scopes]))


def _push_deletes(scope: str) -> str:
    """Harbor's huawei-SWR DeleteManifest sends the token it fetched here for `repository:R:push,pull`,
    so on SWR's token path a push grant also lets its holder delete manifests."""
    kind, _, rest = scope.partition(":")
    actions = rest.rpartition(":")[2].split(",")
    if kind == "repository" and "push" in actions and "delete" not in actions and "*" not in actions:
        return scope + ",delete"
    return scope


@bp.errorhandler(RegistryError)
def dockyard_error(exc: RegistryError) -> Response:
    code = "SVCSTG.SWR.4010000" if exc.status == 401 else exc.code
    message = "Authenticate Error" if exc.status == 401 else exc.message
    return _swr_error(exc.status, code, message)


def init_app(app) -> None:
    app.register_blueprint(bp)
