"""Auth toward Harbor: the /v2 Bearer challenge, the token endpoint, Basic, and per-repository scopes."""

from __future__ import annotations

import base64
import hmac
import os
import time
from dataclasses import dataclass

from adapter import metrics
from adapter.registry.errors import RegistryError
from adapter.registry.logins import LoginGuard, LoginRefused
from adapter.registry.tokens import TokenBox
from adapter.swr.credentials import AccessID, CredentialError, check_secret
from adapter.swr.principal import Principal
from harbor_client.units import isotime

SERVICE = "swr-bridge"
ACTIONS = {"pull", "push", "delete", "*"}
OPENED_TOKENS = 4096  # bearer tokens kept opened per process; one Harbor push uses one token per repository


@dataclass(frozen=True)
class Grant:
    """What a request may do: the principal and, for bearer tokens, the granted scopes."""

    principal: Principal
    access: tuple[tuple[str, str, frozenset], ...] | None  # None: Basic auth, full access

    def allows(self, kind: str, name: str, action: str) -> bool:
        if self.access is None:
            return True
        for entry_kind, entry_name, actions in self.access:
            if entry_kind == kind and entry_name == name and (action in actions or "*" in actions):
                return True
        return False


def parse_scope(scope: str) -> tuple[str, str, frozenset]:
    """`repository:org/app:pull,push` -> ("repository", "org/app", {"pull", "push"})."""
    kind, _, rest = scope.partition(":")
    name, sep, actions = rest.rpartition(":")
    if kind not in ("repository", "registry") or not sep or not name:
        raise RegistryError("UNAUTHORIZED", f"malformed scope {scope!r}", status=400)
    wanted = frozenset(a for a in actions.split(",") if a)
    if not wanted <= ACTIONS:
        raise RegistryError("UNAUTHORIZED", f"unknown action in scope {scope!r}", status=400)
    return kind, name, wanted


def parse_basic(header: str) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeError):
        raise RegistryError("UNAUTHORIZED", "malformed Basic credentials", status=401) from None
    if not sep:
        raise RegistryError("UNAUTHORIZED", "Basic credentials lack ':'", status=401)
    return user, password


class Authenticator:
    """Validates credentials (pass-through or pinned) and issues/opens sealed bearer tokens."""

    def __init__(self, config, box: TokenBox, login, login_file: str | None = None):
        self.config, self.box, self._login = config, box, login
        self.ttl = config.token_ttl
        creds = config.credentials
        self.mode, self.cache_seconds = creds.mode, creds.cache_seconds
        from adapter import metrics

        self.guard = LoginGuard(self.cache_seconds, creds.failure_cache_seconds, creds.max_concurrent_logins,
                                on_refused=metrics.login_refused, shared=login_file)
        if self.mode == "pinned":
            self._pinned = self._load_pinned(creds.pinned)
        self._opened: dict[str, tuple[float, Grant]] = {}  # token -> (expiry, grant)

    @staticmethod
    def _load_pinned(block) -> tuple[Principal, dict[str, str]]:
        sk = os.environ.get(block.secret_key_env) or ""
        AccessID.parse(block.access_id)
        clients = {c.username: os.environ.get(c.password_env) or "" for c in block.clients}
        return Principal(block.access_id, sk), clients

    # --- Basic ----------------------------------------------------------------------------------
    def check_basic(self, user: str, password: str, address: str = "") -> Principal:
        if self.mode == "pinned":
            return self._check_pinned(user, password)
        try:
            AccessID.parse(user)
            check_secret(password)
        except CredentialError as exc:
            raise RegistryError("UNAUTHORIZED", f"invalid credentials: {exc}", status=401) from None
        principal = Principal(user, password)
        try:
            self.guard.check(user, password, address, lambda: self._login(principal))
        except LoginRefused as exc:
            if exc.reason in ("wrong", "cached"):
                raise RegistryError("UNAUTHORIZED", exc.message, status=401) from None
            raise RegistryError("TOOMANYREQUESTS", exc.message, status=429,
                                headers={"Retry-After": str(max(1, round(exc.retry_after)))}) from None
        return principal

    def _check_pinned(self, user: str, password: str) -> Principal:
        principal, clients = self._pinned
        expected = clients.get(user)
        # compare_digest on both branches so timing does not reveal which usernames exist
        ok = hmac.compare_digest((expected or "\0").encode(), password.encode()) and expected
        if not ok:
            metrics.login_refused("wrong")
            raise RegistryError("UNAUTHORIZED", "unknown client or wrong password", status=401)
        return principal

    # --- Bearer ---------------------------------------------------------------------------------
    def issue(self, principal: Principal, scopes: list[str]) -> dict:
        access = [[kind, name, sorted(actions)] for kind, name, actions in map(parse_scope, scopes)]
        payload = {"sub": principal.access_id, "acc": access}
        if self.mode == "passthrough":
            payload["sec"] = principal.secret
        token = self.box.seal("bearer", payload, self.ttl)
        issued = isotime(time.time())
        return {"token": token, "access_token": token, "expires_in": self.ttl, "issued_at": issued}

    def open_bearer(self, token: str) -> Grant:
        """The grant a bearer token carries. A token Harbor sends again (every request of a push does)
        is found by its exact text among those opened before, until it expires: decrypting and
        verifying it anew was a tenth of the endpoint's work per request."""
        opened = self._opened.get(token)
        if opened is not None and opened[0] >= time.time():
            return opened[1]
        data = self.box.open("bearer", token)
        if data is None:
            raise RegistryError("UNAUTHORIZED", "the token is invalid or expired", status=401)
        if self.mode == "pinned":
            principal = self._pinned[0]
        else:
            principal = Principal(data["sub"], data["sec"])
        grant = Grant(principal, tuple((k, n, frozenset(a)) for k, n, a in data["acc"]))
        if len(self._opened) >= OPENED_TOKENS:
            self._opened.clear()  # rare (4,096 live tokens in one process): start over, not an LRU per request
        self._opened[token] = (data["exp"], grant)
        return grant

    def authenticate(self, header: str | None, address: str = "") -> Grant:
        if header and header.lower().startswith("bearer "):
            return self.open_bearer(header[7:].strip())
        basic = parse_basic(header or "")
        if basic is None:
            raise RegistryError("UNAUTHORIZED", "authentication required", status=401)
        return Grant(self.check_basic(*basic, address), None)
