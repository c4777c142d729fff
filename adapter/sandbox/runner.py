"""Sandbox: starts the API in-process (werkzeug, kept alive) and docker-registry as a child, and stops both."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from pathlib import Path

import requests

from adapter.sandbox.api import SandboxContext, create_app
from adapter.sandbox.blacklist import Blacklist
from adapter.sandbox.catalog import RegistryCatalog
from adapter.sandbox.front import Front, Strictness
from adapter.sandbox.registry import RegistryProcess, RegistryStartError, free_port, registry_config
from adapter.sandbox.server import KeepAliveServer, QuietHandler
from adapter.sandbox.state import SandboxState, Tenant, parse_tenants
from adapter.sandbox.tokens import TokenIssuer
from adapter.swr.signer import SdkHmacSha256Auth

log = logging.getLogger(__name__)

DEMO_TENANT = Tenant("eu-de", "SBXDEMOACCESSKEY0001", "sandbox-demo-secret-key-0123456789abcdef")
REALM_PATH = "/swr/auth/v2/registry/auth/"
_RUNNING: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()


class SandboxError(RuntimeError):
    """The sandbox failed to start, or a convenience call got an unexpected answer."""


class Sandbox:
    """A local SWR: token service + /v2/manage + /dockyard in-process, fronting a docker-registry child.

    `tenants`: Tenants or PROJECT:AK:SK specs, or a count of made-up tenants (none: the demo tenant).

    Everything lives under `data_dir` (registry storage, signing certificate, organizations), so a
    restart on the same directory keeps images and organizations. Port 0 picks a free port.
    """

    def __init__(self, data_dir, *, registry_port: int = 0, api_port: int = 0, tenants=None,
                 org_quota: int = 5, startup_timeout: float = 20.0, strict: Strictness | None = None):
        self.data_dir = Path(data_dir)
        self.strict = Strictness() if strict is None else strict
        self.front: Front | None = None
        self._front_server = self._front_thread = None
        self.tenants: list[Tenant] = _tenants(tenants)
        self.org_quota, self.startup_timeout = org_quota, startup_timeout
        self._registry_port, self._api_port = registry_port, api_port
        self._server = self._thread = self._registry = None
        self.state = self.issuer = None
        self.blacklist: Blacklist | None = None  # the tenants SWR's blacklist holds (tests block and lift them)

    @property
    def registry_url(self) -> str:
        """Where clients push: SWR's checks in front of docker-registry (docker-registry itself when none is on)."""
        if self._front_server is not None:
            return f"http://127.0.0.1:{self._front_server.server_port}"
        return self._registry.url

    @property
    def dockyard_url(self) -> str:
        """Where the /dockyard calls go: the registry host, as on SWR, unless the front does not serve them."""
        return self.registry_url if self.front is not None and self.strict.api_on_registry else self.api_url

    @property
    def registry_pid(self) -> int:
        """The docker-registry child's pid (benchmarks read its CPU time)."""
        return self._registry.proc.pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Sandbox":
        if self._thread is not None:
            raise SandboxError("sandbox already started")
        (self.data_dir / "registry").mkdir(parents=True, exist_ok=True)
        self.state = SandboxState(self.data_dir / "state.json", self.tenants, self.org_quota)
        self.issuer = TokenIssuer.in_directory(self.data_dir / "certs")
        catalog = RegistryCatalog(self.issuer, storage=self.data_dir / "registry")
        ctx = SandboxContext(self.state, self.issuer, catalog,
                             blacklist=Blacklist(self.strict.blacklist_logins, self.strict.blacklist_seconds))
        self.blacklist = ctx.blacklist
        try:
            app = create_app(ctx)
            self._server = KeepAliveServer("127.0.0.1", self._api_port, app)
            self._thread = threading.Thread(target=self._server.serve_forever, name="swr-sandbox-api",
                                            daemon=True)
            self._thread.start()
            _RUNNING.add(self)
            if self.strict.needs_front:
                self.front = Front(app, self.strict, self.issuer, ctx.blacklist)
                self._front_server = KeepAliveServer("127.0.0.1", self._registry_port, self.front, QuietHandler)
                self._front_thread = threading.Thread(target=self._front_server.serve_forever,
                                                      name="swr-sandbox-registry", daemon=True)
                self._front_thread.start()
            self._start_registry()
            catalog.url = self._registry.url
            if self.front is not None:
                self.front.backend = self._registry.url
            ctx.registry_host = self.registry_url.removeprefix("http://")
            self._wait_api()
        except BaseException:
            self.stop()
            raise
        log.info("sandbox ready: registry %s, api %s", self.registry_url, self.api_url)
        return self

    def _start_registry(self) -> None:
        # An auto-picked port can be taken between picking and binding; then pick again.
        fixed = self._registry_port if self.front is None else 0
        attempts = 1 if fixed else 3
        # SWR's realm is on its registry host; so is the sandbox's, when the front serves the token service.
        realm = (self.registry_url if self.front and self.strict.api_on_registry else self.api_url) + REALM_PATH
        for attempt in range(attempts):
            port = fixed or free_port()
            self._registry = RegistryProcess(self.data_dir / "registry.yml", self.data_dir / "registry.log", port)
            config = registry_config(
                port=port, storage=self.data_dir / "registry", realm=realm,
                service=self.issuer.service, issuer=self.issuer.issuer, rootcertbundle=self.issuer.cert_path)
            try:
                self._registry.start(config, timeout=self.startup_timeout)
                return
            except RegistryStartError:
                if attempt + 1 == attempts or not self._registry.address_in_use():
                    raise

    def _wait_api(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.api_url + REALM_PATH, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise SandboxError(f"sandbox API not answering on {self.api_url} after {self.startup_timeout}s")

    def stop(self) -> None:
        """Stops the registry child and the API server; nothing under data_dir is removed."""
        if self._registry is not None:
            self._registry.stop()
        for server, thread in ((self._front_server, self._front_thread), (self._server, self._thread)):
            if thread is not None:
                _shutdown(server, thread)
                server.close_connections()
                server.server_close()
        self._thread = self._front_thread = None
        _RUNNING.discard(self)

    def tenant(self, which=None) -> Tenant:
        """A tenant by object, access id, AK or index; the first one by default."""
        if isinstance(which, Tenant):
            return which
        if which is None or isinstance(which, int):
            return self.tenants[which or 0]
        for tenant in self.tenants:
            if which in (tenant.access_id, tenant.ak):
                return tenant
        raise KeyError(f"no sandbox tenant {which!r}")

    def manage_session(self, tenant=None) -> requests.Session:
        """A requests session whose calls are signed SDK-HMAC-SHA256 with the tenant's AK/SK."""
        session = requests.Session()
        session.auth = SdkHmacSha256Auth(self.tenant(tenant).ak, self.tenant(tenant).sk)
        return session

    def create_organization(self, tenant, name: str, *, exist_ok: bool = False) -> requests.Response:
        """Creates an organization through a signed POST /v2/manage/namespaces, as a client would."""
        with self.manage_session(tenant) as session:
            resp = session.post(self.api_url + "/v2/manage/namespaces", json={"namespace": name}, timeout=10)
        if resp.status_code == 201 or (exist_ok and resp.status_code == 409):
            return resp
        raise SandboxError(f"creating organization {name!r} answered {resp.status_code}: {resp.text}")

    def token(self, tenant=None, *scopes: str) -> str:
        """A registry token from the token service, for `repository:<org>/<repo>:<actions>` scopes."""
        t = self.tenant(tenant)
        resp = requests.get(self.api_url + REALM_PATH, params=[("service", "dockyard")] +
                            [("scope", s) for s in scopes], auth=(t.access_id, t.login_key), timeout=10)
        if resp.status_code != 200:
            raise SandboxError(f"token service answered {resp.status_code}: {resp.text}")
        return resp.json()["token"]

    def summary(self) -> dict:
        """What `swr-bridge sandbox` prints: URLs (`dockyard`: where the /dockyard calls go, the `swr.dockyard`
        and auth file `dockyard` key) and the tenants' credentials."""
        return {"registry": self.registry_url, "api": self.api_url, "dockyard": self.dockyard_url,
                "tenants": [{k: t.as_dict()[k] for k in ("access_id", "ak", "sk", "login_key")}
                            for t in self.tenants]}


def _shutdown(server, thread: threading.Thread, timeout: float = 10.0) -> None:
    """server.shutdown(), which waits without end for its serve_forever loop to say it stopped, bounded: a full
    test run once hung there for good, its server thread gone. A loop that does not stop is logged and left."""
    stopper = threading.Thread(target=server.shutdown, name="swr-sandbox-stop", daemon=True)
    stopper.start()
    stopper.join(timeout)
    thread.join(0 if stopper.is_alive() else timeout)
    if stopper.is_alive() or thread.is_alive():
        log.warning("sandbox server on port %s did not stop within %.0f s (serve loop %s)", server.server_port,
                    timeout, "alive" if thread.is_alive() else "gone")


def _tenants(tenants) -> list[Tenant]:
    if not tenants:
        return [DEMO_TENANT]
    if isinstance(tenants, int):  # that many made-up tenants: SWR's limits are per tenant
        return [Tenant("eu-de", f"SBXTENANT{i:011d}", f"sandbox-generated-secret-{i}-0123456789abcdef")
                for i in range(1, tenants + 1)]
    specs = [t for t in tenants if not isinstance(t, Tenant)]
    parsed = iter(parse_tenants(specs))
    return [t if isinstance(t, Tenant) else next(parsed) for t in tenants]


@atexit.register
def _stop_leftovers() -> None:
    # A test run that dies before its fixtures finish must not leave registries behind.
    for sandbox in list(_RUNNING):
        sandbox.stop()
