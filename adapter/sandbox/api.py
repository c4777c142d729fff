"""The sandbox's Flask app: token service, /v2/manage and /dockyard blueprints over shared helpers."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from dataclasses import dataclass, field

from flask import Blueprint, Flask, current_app, jsonify, request

from adapter.sandbox import errors
from adapter.sandbox.blacklist import Blacklist
from adapter.sandbox.catalog import CatalogError, RegistryCatalog
from adapter.sandbox.errors import SwrError
from adapter.sandbox.state import (
    Organization,
    OrganizationExists,
    QuotaExceeded,
    SandboxState,
    Tenant,
)
from adapter.sandbox.tokens import KNOWN_ACTIONS, Scope, ScopeError, TokenIssuer, parse_scope, rfc3339

log = logging.getLogger(__name__)

# Owner permission on an organization (7 = manage, 3 = write, 1 = read).
AUTH_MANAGE = 7


@dataclass
class SandboxContext:
    state: SandboxState
    issuer: TokenIssuer
    catalog: RegistryCatalog
    registry_host: str = "127.0.0.1"
    blacklist: Blacklist = field(default_factory=lambda: Blacklist(None))


def context() -> SandboxContext:
    return current_app.extensions["sandbox"]


def create_app(ctx: SandboxContext) -> Flask:
    """The app factory: one blueprint per SWR surface, all errors in SWR's shapes."""
    from adapter.sandbox import dockyard, manage, versions

    app = Flask("adapter.sandbox")
    app.extensions["sandbox"] = ctx
    app.json.sort_keys = False
    errors.init_app(app)
    app.register_blueprint(token_bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(dockyard.bp)
    app.register_blueprint(versions.bp)
    return app


def basic_tenant() -> Tenant | None:
    """The tenant behind Basic `<project>@<AK>:<login key>`; None when no credentials were sent."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise errors.unauthorized("only Basic credentials are accepted here")
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.unauthorized("malformed Basic credentials") from None
    if not sep:
        raise errors.unauthorized("malformed Basic credentials")
    tenant = context().state.tenant_by_access_id(user)
    # Like SWR, only the derived login key is a registry password; the SK itself is refused.
    if tenant is None or not hmac.compare_digest(password.encode(), tenant.login_key.encode()):
        log.info("registry login refused for %r", user)
        raise errors.unauthorized()
    return tenant


def require_basic_tenant() -> Tenant:
    tenant = basic_tenant()
    if tenant is None:
        raise errors.unauthorized("credentials required")
    return tenant


def check_organization_name(name) -> None:
    from adapter.swr.naming import NamingError, check_organization

    if not isinstance(name, str) or not name:
        raise SwrError(400, errors.BAD_ORG_NAME, "Invalid organization name", "namespace must be a string")
    try:
        check_organization(name)
    except NamingError as exc:
        raise SwrError(400, errors.BAD_ORG_NAME, "Invalid organization name", str(exc)) from None


def create_organization(tenant: Tenant, name) -> Organization:
    """Shared by /v2/manage and /dockyard: naming rules, global uniqueness, then the tenant's quota."""
    check_organization_name(name)
    try:
        org = context().state.create(tenant, name)
    except OrganizationExists:
        raise SwrError(409, errors.ORG_EXISTS, "Namespace already exists", name) from None
    except QuotaExceeded:
        raise SwrError(400, errors.ORG_QUOTA, "The maximum number of organizations has been reached. "
                                              "Submit a service ticket", name) from None
    log.info("organization %s created by %s", name, tenant.access_id)
    return org


def repositories_of(tenant: Tenant, namespaces=None, *, with_sizes=True):
    """The tenant's repositories, discovered from the registry; 502 when it cannot be asked."""
    owned = [o.name for o in context().state.organizations_of(tenant)]
    if namespaces is not None:
        owned = [n for n in owned if n in set(namespaces)]
    try:
        return context().catalog.repositories(owned, with_sizes=with_sizes)
    except CatalogError as exc:
        raise SwrError(502, errors.UPSTREAM, "Image repository backend unavailable", str(exc)) from None


token_bp = Blueprint("sandbox_token", __name__)


def _grant(tenant: Tenant | None, scope: Scope) -> dict | None:
    if tenant is None:
        return None
    if scope.type == "registry":
        return scope.claim(["*"]) if scope.name == "catalog" and "*" in scope.actions else None
    namespace, sep, rest = scope.name.partition("/")
    if scope.type != "repository" or not sep or not rest or not _valid_destination(scope.name):
        return None
    if context().state.owned(tenant, namespace) is None:
        return None
    allowed = set(scope.actions) & KNOWN_ACTIONS
    return scope.claim(allowed) if allowed else None


def _refuse_missing_organizations(scopes: list[Scope]) -> None:
    """SWR's token service refuses a repository scope in an organization that does not exist: 401 DENIED
    "Image organization does not exist" (swr.md §6.1, observed on Huawei Cloud). One such scope refuses the
    whole request; SWR's behaviour with several scopes is not documented, and this is the strict reading."""
    for scope in scopes:
        namespace, sep, rest = scope.name.partition("/")
        if scope.type == "repository" and sep and rest and context().state.organization(namespace) is None:
            raise SwrError(401, "DENIED", "Image organization does not exist", namespace, shape=errors.DISTRIBUTION)


def _valid_destination(name: str) -> bool:
    from adapter.swr.naming import NamingError, check_destination

    try:
        check_destination(name)
    except NamingError:
        return False
    return True


@token_bp.get("/swr/auth/v2/registry/auth")
@token_bp.get("/swr/auth/v2/registry/auth/")
def registry_token():
    service = request.args.get("service")
    if service is not None and service != context().issuer.service:
        raise errors.bad_request("Invalid service", f"service must be {context().issuer.service!r}")
    tenant = basic_tenant()
    left = context().blacklist.login(tenant.access_id) if tenant else None
    if left is not None:
        log.info("registry login refused for %r: blacklisted", tenant.access_id)
        raise errors.blacklisted(left)
    try:
        # Several scopes may come as repeated params or space-separated in one.
        scopes = [parse_scope(s) for raw in request.args.getlist("scope") for s in raw.split()]
    except ScopeError as exc:
        raise errors.bad_request("Invalid scope", str(exc)) from None
    if tenant is not None:
        _refuse_missing_organizations(scopes)
    access = [claim for claim in (_grant(tenant, s) for s in scopes) if claim]
    token, issued = context().issuer.mint(tenant.access_id if tenant else "", access)
    return jsonify(token=token, access_token=token, expires_in=context().issuer.ttl, issued_at=rfc3339(issued))
