"""The /v2 surface and its token endpoint: routing, authentication and scope checks."""

from __future__ import annotations

import re

from flask import Blueprint, Response, g, jsonify, request

from adapter.registry import blobs, manifests
from adapter.registry.auth import SERVICE, Grant, parse_basic
from adapter.registry.blobs import DIGEST_RE
from adapter.registry.errors import API_VERSION_HEADER, RegistryError
from adapter.registry.relay import ClientGone
from adapter.registry.service import EXTENSION, RegistryService, service

bp = Blueprint("registry", __name__)

# (method set, pattern, handler, action) — the name is everything before the last fixed segment.
ROUTES = [
    ({"POST"}, re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), blobs.start_upload, "push"),
    # Upload status is a GET: Harbor (like distribution) asks only repository:R:pull for it.
    ({"GET"}, re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<token>[^/]+)$"), blobs.upload, "pull"),
    ({"PATCH", "PUT", "DELETE"}, re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<token>[^/]+)$"),
     blobs.upload, "push"),
    ({"GET", "HEAD"}, re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), blobs.get_blob, "pull"),
    ({"DELETE"}, re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), blobs.delete_blob, "delete"),
    ({"GET", "HEAD"}, re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$"), manifests.get_manifest, "pull"),
    ({"PUT"}, re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$"), manifests.put_manifest, "push"),
    ({"DELETE"}, re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$"), manifests.delete_manifest, "delete"),
    ({"GET"}, re.compile(r"^(?P<name>.+)/tags/list$"), manifests.list_tags, "pull"),
    ({"GET"}, re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), manifests.referrers, "pull"),
]


def realm_base() -> str:
    """Where clients reach this endpoint: public_url, else the request's Host when it is one of
    trusted_hosts, else the listen address. Never an arbitrary Host header, which would send the
    client's credentials wherever the sender of that header chose."""
    cfg = service().config
    if cfg.get("public_url"):
        return cfg["public_url"].rstrip("/")
    if request.host in cfg["trusted_hosts"]:
        return f"{request.scheme}://{request.host}"
    return f"{request.scheme}://{cfg['listen']}"


def _challenge(scope: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{realm_base()}/auth/token",service="{SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    return {"WWW-Authenticate": value}


def _authenticate(scope: str | None = None) -> Grant:
    try:
        return service().auth.authenticate(request.headers.get("Authorization"), request.remote_addr or "")
    except RegistryError as exc:
        if exc.status == 401:
            exc.headers.update(_challenge(scope))
        raise


@bp.route("/v2/", methods=["GET", "HEAD"])
@bp.route("/v2", methods=["GET", "HEAD"])
def base():
    g.registry_grant = _authenticate()
    return jsonify({})


@bp.route("/v2/_catalog", methods=["GET"])
def catalog():
    g.registry_grant = _authenticate("registry:catalog:*")
    if not g.registry_grant.allows("registry", "catalog", "*"):
        raise RegistryError("DENIED", "the token does not grant registry:catalog:*", status=403)
    return manifests.catalog()


@bp.route("/v2/<path:rest>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
def dispatch(rest: str):
    path = rest + ("/" if request.path.endswith("/") and not rest.endswith("/") else "")
    for methods, pattern, handler, action in ROUTES:
        match = pattern.match(path)
        if match and request.method in methods:
            args = match.groupdict()
            name = args.pop("name")
            _check_path(name, args)
            g.route = f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}"  # metrics label
            scope = f"repository:{name}:{'pull,push' if action == 'push' else action}"
            g.registry_grant = _authenticate(scope)
            if not g.registry_grant.allows("repository", name, action):
                raise RegistryError("DENIED", f"the token does not grant {action} on {name}", status=403,
                                    headers=_challenge(scope))
            g.repository = name
            if action == "pull" and _intends_push(g.registry_grant, name):
                svc = service()
                svc.orgs.ensure(g.registry_grant.principal, svc.map_name(name).split("/")[0])
            try:
                return handler(name, **args)
            except RegistryError as exc:
                if action == "pull" and exc.status in (401, 403) and _organization_missing(name):
                    raise RegistryError("NAME_UNKNOWN", f"repository {name} is not known to SWR",
                                        status=404) from None
                raise
    if any(p.match(path) for _, p, _, _ in ROUTES):
        raise RegistryError("UNSUPPORTED", f"{request.method} is not supported here", status=405)
    raise RegistryError("NAME_UNKNOWN", "unknown registry route", status=404)


def _check_path(name: str, args: dict) -> None:
    """The repository name, tag and digest of every route, before anything else sees them: a `..`
    would otherwise reach SWR as another path."""
    from adapter.swr.naming import NamingError, check_oci_name, check_tag

    try:
        check_oci_name(name)
    except NamingError as exc:
        raise RegistryError("NAME_INVALID", str(exc), detail={"name": name}) from None
    ref, digest = args.get("ref"), args.get("digest")
    if ref is not None and not ref.startswith(("sha256:", "sha512:")):
        try:
            check_tag(ref)
        except NamingError as exc:  # the code put_manifest has always given a bad tag
            raise RegistryError("NAME_INVALID", str(exc), detail={"tag": ref}) from None
    elif ref is not None:
        digest = ref
    if digest is not None and not DIGEST_RE.match(digest):
        raise RegistryError("DIGEST_INVALID", f"digest {digest[:100]!r} is not sha256:<64 hex> or sha512:<128 hex>")


def _organization_missing(name: str) -> bool:
    """Harbor's existence checks (manifest and blob HEAD) carry a pull-only token, so they reach an
    organization that its first write has not created yet; SWR denies reads there, and anything but
    a 404 fails Harbor's task. Asked only after a denial."""
    from adapter.swr.api import SwrError

    svc = service()
    try:
        return svc.orgs.client(g.registry_grant.principal).get_organization(svc.map_name(name).split("/")[0]) is None
    except SwrError:
        return False


def _intends_push(grant: Grant, name: str) -> bool:
    """A bearer token granted push: its existence checks come before the first write, so the
    organization is created now; otherwise SWR would deny even the HEAD requests."""
    return grant.access is not None and grant.allows("repository", name, "push")


@bp.route("/auth/token", methods=["GET"])
def token():
    basic = parse_basic(request.headers.get("Authorization", ""))
    if basic is None:
        raise RegistryError("UNAUTHORIZED", "Basic credentials (access id and secret) required", status=401,
                            headers={"WWW-Authenticate": 'Basic realm="swr-bridge"'})
    svc = service()
    principal = svc.auth.check_basic(*basic, request.remote_addr or "")
    scopes = [s for s in request.args.getlist("scope") for s in _split_scopes(s)]
    return jsonify(svc.auth.issue(principal, scopes))


def _split_scopes(value: str) -> list[str]:
    # Some clients join several scopes with spaces in one parameter.
    return [s for s in value.split(" ") if s]


@bp.errorhandler(RegistryError)
def registry_error(exc: RegistryError) -> Response:
    return exc.response()


@bp.errorhandler(ClientGone)
def client_gone(exc: ClientGone) -> Response:
    # The client's own failure: a 4xx in the metrics, and no upstream error counted.
    return RegistryError("BLOB_UPLOAD_INVALID", str(exc), status=400).response()


@bp.after_request
def api_version(resp: Response) -> Response:
    if request.path.startswith("/v2"):
        resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    return resp


def init_app(app) -> None:
    app.extensions[EXTENSION] = RegistryService(app.config["BRIDGE"])
    app.register_blueprint(bp)
