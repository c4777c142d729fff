"""The /v2 surface and its token endpoint: routing, authentication and scope checks."""

from __future__ import annotations

import functools

from flask import Blueprint, Response, g, jsonify, request

from adapter.registry import blobs, manifests
from adapter.registry.auth import SERVICE, Grant, parse_basic
from adapter.registry.errors import API_VERSION_HEADER, RegistryError
from adapter.registry.service import EXTENSION, RegistryService, service
from adapter.transfer.errors import TransferError
from adapter.transfer.oci import is_digest

bp = Blueprint("registry", __name__)


def realm_base() -> str:
    """Where clients reach this endpoint: public_url, else the request's Host when it is one of
    trusted_hosts, else the listen address. Never an arbitrary Host header, which would send the
    client's credentials wherever the sender of that header chose."""
    cfg = service().config
    if cfg.public_url:
        return cfg.public_url.rstrip("/")
    if request.host in cfg.trusted_hosts:
        return f"{request.scheme}://{request.host}"
    return f"{request.scheme}://{cfg.listen}"


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


def requires(action: str):
    """A repository route: authenticates for `repository:<name>:<action>`, checks the grant, and turns a
    pull's denial in an organization that does not exist yet into NAME_UNKNOWN."""
    def wrap(handler):
        label = f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}"  # the metrics' route label

        @functools.wraps(handler)
        def view(name: str, **args):
            g.route = label
            _check_path(name, args)
            scope = f"repository:{name}:{'pull,push' if action == 'push' else action}"
            g.registry_grant = _authenticate(scope)
            if not g.registry_grant.allows("repository", name, action):
                raise RegistryError("DENIED", f"the token does not grant {action} on {name}", status=403,
                                    headers=_challenge(scope))
            g.repository = name
            if action == "pull" and _intends_push(g.registry_grant, name):
                svc = service()
                dest = svc.map_name(name)
                svc.orgs.ensure(g.registry_grant.principal, dest.split("/")[0])
                try:  # the uploads come next: their pull,push token serves this read too
                    svc.upstream.token(g.registry_grant.principal, blobs.scopes(dest, "push"),
                                       also=(blobs.scopes(dest, "pull"),))
                except RegistryError:
                    pass  # the read fetches its own token, and meets the refusal there, as before
            try:
                return handler(name, **args)
            except RegistryError as exc:
                if not (action == "pull" and exc.status in (401, 403)):
                    raise
                if _organization_missing(name):
                    raise RegistryError("NAME_UNKNOWN", f"repository {name} is not known to SWR",
                                        status=404) from None
            # The organization exists now: a concurrent push made it after this read's token was issued
            # (SWR grants a token only the access that existed then); once more, with a fresh token.
            return handler(name, **args)
        return view
    return wrap


# (rule, methods, handler, action): <name> is everything before the last fixed segment.
ROUTES = [
    ("/v2/<path:name>/blobs/uploads/", ["POST"], blobs.start_upload, "push"),
    # Upload status is a GET: Harbor (like distribution) asks only repository:R:pull for it.
    ("/v2/<path:name>/blobs/uploads/<token>", ["GET"], blobs.upload, "pull"),
    ("/v2/<path:name>/blobs/uploads/<token>", ["PATCH", "PUT", "DELETE"], blobs.upload, "push"),
    ("/v2/<path:name>/blobs/<digest>", ["GET"], blobs.get_blob, "pull"),
    ("/v2/<path:name>/blobs/<digest>", ["DELETE"], blobs.delete_blob, "delete"),
    ("/v2/<path:name>/manifests/<ref>", ["GET"], manifests.get_manifest, "pull"),
    ("/v2/<path:name>/manifests/<ref>", ["PUT"], manifests.put_manifest, "push"),
    ("/v2/<path:name>/manifests/<ref>", ["DELETE"], manifests.delete_manifest, "delete"),
    ("/v2/<path:name>/tags/list", ["GET"], manifests.list_tags, "pull"),
    ("/v2/<path:name>/referrers/<digest>", ["GET"], manifests.referrers, "pull"),
]
for _rule, _methods, _handler, _action in ROUTES:  # GET routes answer HEAD too
    bp.add_url_rule(_rule, f"{_handler.__name__}_{_action}", requires(_action)(_handler), methods=_methods,
                    strict_slashes=not _rule.endswith("/"))  # uploads/ with or without its slash


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
    if digest is not None and not is_digest(digest):
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


@bp.errorhandler(TransferError)
def registry_error(exc: TransferError) -> Response:
    return RegistryError.of(exc).response()


@bp.after_request
def api_version(resp: Response) -> Response:
    if request.path.startswith("/v2"):
        resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    return resp


def init_app(app) -> None:
    app.extensions[EXTENSION] = RegistryService(app.config["BRIDGE"], budget_file=app.config.get("BUDGET_FILE"),
                                                instance_key=app.config.get("INSTANCE_KEY"),
                                                login_file=app.config.get("LOGIN_FILE"),
                                                seats_file=app.config.get("SEATS_FILE"))
    app.register_blueprint(bp)
