"""A registry as the sync sees it: the shared RegistryClient bound to the account from auth.json.

Sources read tags, manifests and blobs; destinations also check, mount and upload blobs, put
manifests, and create SWR organizations through adapter.swr's Organizations.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

import requests
import urllib3

from adapter.swr.api import SwrError
from adapter.swr.organizations import OrganizationError, Organizations
from adapter.sync.errors import CopyError, describe
from adapter.sync.files import Account, account_for
from adapter.transfer.client import RegistryClient
from adapter.transfer.errors import TransferError, upstream_error
from adapter.transfer.limits import MAX_CONCURRENT_LAYERS, Pacer
from adapter.transfer.oci import ACCEPT
from adapter.transfer.streams import error_body
from harbor_client.units import retry_after

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
PUSH = "pull,push"  # every call on a destination asks for this one scope: one token per repository


def base_url(host: str, plain: bool = False) -> str:
    """The registry's URL: plain HTTP when asked, or for a loopback host; HTTPS otherwise."""
    if host == "docker.io":
        return "https://registry-1.docker.io"
    plain = plain or host.split(":")[0] in LOOPBACK or host.startswith("[::1]")
    return f"{'http' if plain else 'https'}://{host}"


class InsecureClient(RegistryClient):
    """`insecure: true` as image-syncer means it (containers/image's DockerInsecureSkipTLSVerify): HTTPS
    without certificate verification, and plain HTTP when HTTPS gets no answer; the choice is announced once."""

    def __init__(self, host: str, session: requests.Session, *, timeout: float, announce):
        super().__init__(f"https://{host}", session, name=host, timeout=timeout, verify=False)
        self.announce = announce
        # Asked for, and announced: urllib3's warning on every streamed blob would add nothing.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def _discover(self) -> None:
        try:
            super()._discover()
        except TransferError as exc:
            if exc.code != "UPSTREAM_UNREACHABLE":
                raise
            self.base = f"http://{self.name}"
            super()._discover()
            self.announce(f"{self.name}: insecure: plain HTTP (HTTPS did not answer)")
            return
        self.announce(f"{self.name}: insecure: HTTPS without certificate verification")


def _failure(resp: requests.Response, what: str) -> CopyError:
    err = upstream_error(resp.status_code, error_body(resp), resp.headers.get("Content-Type"))
    retryable = resp.status_code >= 500 or resp.status_code == 429
    return CopyError(f"{what}: {resp.status_code} {err.code}: {err.message}", retryable=retryable, code=err.code)


class _Body:
    """A streamed blob response, read like a file (raw bytes, no content decoding).

    A broken source connection is a retryable CopyError that names the source, also when it breaks
    while the bytes are being sent on to the destination.
    """

    def __init__(self, resp: requests.Response, what: str):
        self.resp, self.what = resp, what
        length = resp.headers.get("Content-Length", "")
        self.length = int(length) if length.isdigit() else None

    def read(self, size: int) -> bytes:
        try:
            return self.resp.raw.read(size, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise CopyError(f"{self.what}: {describe(exc)}", retryable=True) from None

    def close(self) -> None:
        self.resp.close()


class Remote:
    """One registry host with one account (None: anonymous)."""

    def __init__(self, host: str, client: RegistryClient, account: Account | None, orgs=None, layers=None):
        self.host, self.client, self.account, self.orgs = host, client, account, orgs
        self.creds = account.creds if account else None
        # SWR takes at most 20 layers of a tenant at once: a semaphore per tenant (None: no such limit).
        self.layers = layers or nullcontext()
        self._org_lock = threading.Lock()  # one creation at a time; later calls hit the cache

    @property
    def is_swr(self) -> bool:
        return bool(self.account and self.account.principal)

    def call(self, method: str, repo: str, path: str, action: str, what: str, *, ok=(200,),
             scopes=None, **kw) -> requests.Response:
        """A call on `/v2/<repo>/<path>` (or an absolute upload URL); any other status than `ok` raises."""
        url = path if "://" in path else f"/v2/{repo}/{path}"
        try:
            resp = self.client.request(self.creds, method, url, scopes or [f"repository:{repo}:{action}"], **kw)
        except TransferError as exc:
            hint = ""
            if self.client.scheme is None and self.client.base.startswith("http://") and "GET /v2/" in exc.message:
                hint = ("; on HTTPS, a loopback registry needs `insecure: true` (or a `ca_bundle`) in its auth "
                        "entry, as plain HTTP is the default there")
            raise CopyError(f"{what}: {describe(exc)}{hint}", retryable=exc.transient) from None
        if resp.status_code in (429, 503) and self.client.pacer is not None:
            # SWR's rate limit: every worker waits as long as it asked, not only this one.
            self.client.pacer.pause(retry_after(resp.headers.get("Retry-After")) or 1.0)
        if resp.status_code not in ok:
            raise _failure(resp, what)
        return resp

    # --- reading --------------------------------------------------------------------------------
    def tags(self, repo: str) -> list[str]:
        found, path = [], "tags/list?n=1000"
        while path:
            resp = self.call("GET", repo, path, "pull", f"list tags of {self.host}/{repo}", stream=False)
            found += resp.json().get("tags") or []
            link = resp.headers.get("Link", "")
            path = link[link.find("<") + 1:link.find(">")] if "rel=\"next\"" in link else ""
            path = self.client.resolve(path) if path else ""  # call() checks where it points
        return found

    def manifest(self, repo: str, ref: str, unless: str | None = None) -> tuple[bytes, str] | None:
        """The manifest for `ref` and its media type; with `unless`, None when `ref` still is that digest
        (the registry answered If-None-Match with 304 and sent nothing)."""
        headers = {"Accept": ACCEPT, **({"If-None-Match": f'"{unless}"'} if unless else {})}
        resp = self.call("GET", repo, f"manifests/{ref}", "pull", f"get manifest {self.host}/{repo}:{ref}",
                         ok=(200, 304) if unless else (200,), headers=headers, stream=False)
        if resp.status_code == 304:
            return None
        return resp.content, resp.headers.get("Content-Type", "").split(";")[0].strip()

    def open_blob(self, repo: str, digest: str):
        what = f"get blob {digest[:19]} from {self.host}/{repo}"
        resp = self.call("GET", repo, f"blobs/{digest}", "pull", what, ok=(200, 307, 302, 303))
        if resp.status_code != 200:  # storage redirect: follow without our credentials
            # Not client.url(): storage behind plain HTTP is the source's choice, and no credential of ours goes there.
            location = self.client.resolve(resp.headers.get("Location", ""))
            resp.close()
            try:
                resp = self.client.session.get(location, stream=True, verify=self.client.verify,
                                               timeout=(5, self.client.timeout))
            except requests.RequestException as exc:
                raise CopyError(f"{what}: {describe(exc)}", retryable=True) from None
            if resp.status_code != 200:
                raise _failure(resp, what)
        return _Body(resp, what)

    # --- writing --------------------------------------------------------------------------------
    def digest(self, repo: str, ref: str) -> str | None:
        """The destination's manifest digest for `ref`, None when it has none."""
        resp = self.call("HEAD", repo, f"manifests/{ref}", PUSH, f"check {self.host}/{repo}:{ref}",
                         ok=(200, 404), headers={"Accept": ACCEPT}, stream=False)
        return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None

    def listed_digests(self, repo: str) -> dict[str, str] | None:
        """SWR's own tag listing of `repo` as {tag: manifest digest}: one signed call for all its tags.
        None when there is none to be had (not SWR, no AK/SK, or any failure): callers then ask per tag."""
        principal = self.account.principal if self.is_swr else None
        if self.orgs is None or principal is None or not principal.sk:
            return None
        org, _, name = repo.partition("/")
        try:  # one attempt: a failed listing costs only the per-tag checks it would have saved
            entries = self.orgs.client(principal, retries=0).list_tags(org, name)
        except (SwrError, requests.RequestException, ValueError):
            return None
        return {e["Tag"]: e["digest"] for e in entries
                if isinstance(e, dict) and isinstance(e.get("Tag"), str) and isinstance(e.get("digest"), str)}

    def has_blob(self, repo: str, digest: str) -> bool:
        resp = self.call("HEAD", repo, f"blobs/{digest}", PUSH, f"check blob {digest[:19]} in {repo}",
                         ok=(200, 404), stream=False)
        return resp.status_code == 200

    def start_upload(self, repo: str, mount: str | None = None, source: str | None = None) -> str | None:
        """An upload URL; None when `mount` was mounted from `source` (201). Anything else falls back."""
        if mount and source:
            scopes = [f"repository:{repo}:pull,push", f"repository:{source}:pull"]
            try:
                resp = self.call("POST", repo, "blobs/uploads/", PUSH, "mount", ok=(201, 202),
                                 scopes=scopes, params={"mount": mount, "from": source}, stream=False)
            except CopyError:
                resp = None
            if resp is not None and resp.status_code == 201:
                return None
            if resp is not None and resp.headers.get("Location"):
                return resp.headers["Location"]
        resp = self.call("POST", repo, "blobs/uploads/", PUSH, f"start upload to {self.host}/{repo}",
                         ok=(202,), stream=False)
        if "Location" not in resp.headers:
            raise CopyError(f"start upload to {self.host}/{repo}: 202 without Location", retryable=True)
        return resp.headers["Location"]

    def upload(self, repo: str, location: str, body, digest: str) -> None:
        """Streams `body` (a SizedBodyStream) in one PUT that commits it under `digest`, holding one of the
        tenant's layer seats (--swr-layers) while it goes."""
        what = f"upload {digest[:19]} to {self.host}/{repo}"
        try:
            with self.layers:
                self.call("PUT", repo, self.client.url(location), PUSH, what, ok=(201,), params={"digest": digest},
                          data=body, headers={"Content-Type": "application/octet-stream"}, stream=False,
                          replayable=False)
        except CopyError:
            if body.count == len(body) and body.digest != digest:
                raise CopyError(f"{what}: the source sent {body.digest}", retryable=True) from None
            raise

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> None:
        self.call("PUT", repo, f"manifests/{ref}", PUSH, f"put manifest {self.host}/{repo}:{ref}",
                  ok=(201,), data=body, headers={"Content-Type": media_type}, stream=False)

    def prefetch(self, repos: list[str]) -> None:
        """Destination tokens for many repositories in one request (best effort: calls fetch their own)."""
        try:
            self.client.prefetch(self.creds, [f"repository:{repo}:{PUSH}" for repo in repos])
        except (TransferError, ValueError):
            pass

    def ensure_organization(self, org: str) -> None:
        """Creates the SWR organization if needed (cached); a no-op for other registries."""
        if not self.is_swr or self.orgs is None:
            return
        try:
            with self._org_lock:
                self.orgs.ensure(self.account.principal, org)
        except OrganizationError as exc:
            raise CopyError(f"organization {org!r} on {self.host}: {exc.message}", retryable=exc.transient) from None


class Remotes:
    """Remote objects by host and account, sharing one RegistryClient per host and one session."""

    def __init__(self, accounts: dict[str, Account], session: requests.Session, timeout: float = 30.0,
                 announce=lambda line: None, max_rps: float | None = None,
                 swr_layers: int = MAX_CONCURRENT_LAYERS):
        self.accounts, self.session, self.timeout, self.announce = accounts, session, timeout, announce
        self.max_rps, self.swr_layers = max_rps, swr_layers
        self._layers: dict[tuple[str, str], threading.BoundedSemaphore] = {}  # (host, AK) -> its seats
        self._clients: dict[tuple, RegistryClient] = {}
        self._remotes: dict[tuple[str, str], Remote] = {}
        self._lock = threading.Lock()

    def get(self, host: str, repo: str) -> Remote:
        account = account_for(self.accounts, f"{host}/{repo}")
        key = (host, account.key if account else "")
        with self._lock:
            if key not in self._remotes:
                self._remotes[key] = self._make(host, account)
            return self._remotes[key]

    def _client(self, host: str, insecure: bool, ca_bundle: str | None) -> RegistryClient:
        """One client per host and TLS setting: `insecure` as image-syncer, or verified with a CA bundle
        (HTTPS also on loopback), or the default (HTTPS verified; plain HTTP on loopback)."""
        key = (host, insecure, ca_bundle)
        client = self._clients.get(key)
        if client is None:
            if insecure and host != "docker.io":
                client = InsecureClient(host, self.session, timeout=self.timeout,
                                        announce=lambda line: self.announce(line))
            else:
                base = f"https://{host}" if ca_bundle and host != "docker.io" else base_url(host)
                client = RegistryClient(base, self.session, name=host, timeout=self.timeout, verify=ca_bundle or True)
            self._clients[key] = client
        return client

    def _make(self, host: str, account: Account | None) -> Remote:
        client = self._client(host, bool(account and account.insecure), account.ca_bundle if account else None)
        base = client.base
        orgs = None
        if account and account.principal:
            if client.pacer is None and self.max_rps:
                # SWR limits a tenant's requests; one pacer per host is shared by every worker thread.
                client.pacer = Pacer(self.max_rps)
            where = f"in the auth file, under {account.key!r}"
            orgs = Organizations(account.api or base, account.dockyard or base, self.session, self.timeout,
                                 config_keys=(f"`api` {where}", f"`dockyard` {where}"))
            # Per tenant (its AK, whatever project prefix an entry gives it), shared by every entry of it.
            layers = self._layers.setdefault((host, account.principal.ak),
                                             threading.BoundedSemaphore(self.swr_layers))
            return Remote(host, client, account, orgs, layers)
        return Remote(host, client, account, orgs)

