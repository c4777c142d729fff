"""Sandbox state: tenants (from flags) and organizations with their owner, persisted as JSON."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from adapter.swr.credentials import AccessID, CredentialError, check_secret, login_key

STATE_VERSION = 1


class StateError(ValueError):
    """Base for the organization rule violations the API turns into SWR errors."""


class OrganizationExists(StateError):
    pass


class OrganizationNotFound(StateError):
    pass


class QuotaExceeded(StateError):
    pass


@dataclass(frozen=True)
class Tenant:
    """One SWR account: the regional project plus an AK/SK pair. The SK never shows in repr."""

    project: str
    ak: str
    sk: str = field(repr=False)

    @property
    def access_id(self) -> str:
        return f"{self.project}@{self.ak}"

    @property
    def login_key(self) -> str:
        return login_key(self.ak, self.sk)

    def as_dict(self) -> dict:
        return {"access_id": self.access_id, "project": self.project, "ak": self.ak,
                "sk": self.sk, "login_key": self.login_key}

    @classmethod
    def parse(cls, spec: str) -> "Tenant":
        """Parses `PROJECT:AK:SK`; the SK may itself contain ':'."""
        parts = (spec or "").strip().split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise CredentialError("tenant must be PROJECT:AK:SK, e.g. eu-de:AKEXAMPLE0000001:<secret key>")
        project, ak, sk = parts
        AccessID.parse(f"{project}@{ak}")
        check_secret(sk)
        return cls(project, ak, sk)


def parse_tenants(specs) -> list[Tenant]:
    """Parses tenant specs and refuses one AK configured twice (the AK identifies the account)."""
    tenants, seen = [], set()
    for spec in specs:
        tenant = Tenant.parse(spec)
        if tenant.ak in seen:
            raise CredentialError(f"AK {tenant.ak} is configured for more than one tenant")
        seen.add(tenant.ak)
        tenants.append(tenant)
    return tenants


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    owner_ak: str
    creator_name: str
    created_at: str


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxState:
    """Organizations keyed by their (region-global) name; every change is written through to disk."""

    def __init__(self, path: Path, tenants: list[Tenant], org_quota: int = 5):
        self.path = Path(path)
        self.tenants = list(tenants)
        self.org_quota = org_quota
        self._lock = threading.RLock()
        self._by_ak = {t.ak: t for t in self.tenants}
        self._by_access_id = {t.access_id: t for t in self.tenants}
        self._orgs: dict[str, Organization] = {}
        self._next_id = 1
        self._load()

    def tenant_by_ak(self, ak: str) -> Tenant | None:
        return self._by_ak.get(ak)

    def tenant_by_access_id(self, access_id: str) -> Tenant | None:
        return self._by_access_id.get(access_id)

    def organization(self, name: str) -> Organization | None:
        with self._lock:
            return self._orgs.get(name)

    def organizations_of(self, tenant: Tenant) -> list[Organization]:
        with self._lock:
            return sorted((o for o in self._orgs.values() if o.owner_ak == tenant.ak), key=lambda o: o.id)

    def owned(self, tenant: Tenant, name: str) -> Organization | None:
        org = self.organization(name)
        return org if org is not None and org.owner_ak == tenant.ak else None

    def create(self, tenant: Tenant, name: str) -> Organization:
        """Creates an organization; the name is global across tenants and the quota is per tenant."""
        with self._lock:
            if name in self._orgs:
                raise OrganizationExists(name)
            if len(self.organizations_of(tenant)) >= self.org_quota:
                raise QuotaExceeded(f"{tenant.access_id} already has {self.org_quota} organizations")
            org = Organization(self._next_id, name, tenant.ak, tenant.project, _now())
            self._orgs[name] = org
            self._next_id += 1
            self._save()
            return org

    def delete(self, tenant: Tenant, name: str) -> None:
        with self._lock:
            if self.owned(tenant, name) is None:
                raise OrganizationNotFound(name)
            del self._orgs[name]
            self._save()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = json.loads(self.path.read_text())
        if data.get("version") != STATE_VERSION:
            raise StateError(f"{self.path}: unsupported state version {data.get('version')!r}")
        self._orgs = {o["name"]: Organization(**o) for o in data.get("organizations", [])}
        self._next_id = int(data.get("next_id", len(self._orgs) + 1))

    def _save(self) -> None:
        # Write-then-rename so a crash mid-write never leaves a truncated state file behind.
        data = {"version": STATE_VERSION, "next_id": self._next_id,
                "organizations": [o.__dict__ for o in sorted(self._orgs.values(), key=lambda o: o.id)]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)
