"""Harbor's registry client (src/pkg/registry/client.go) and the huawei-SWR adapter's own calls
(src/pkg/reg/adapter/huawei/*.go), request for request."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tests.harbor_push.auth import AuthError, RegistryAuthorizer, basic_header, is_rfc3339
from tests.harbor_push.sources import MANIFEST_ACCEPTS, Manifest, SourceError, manifest_media_type
from tests.harbor_push.wire import (
    GO_USER_AGENT,
    HARBOR_USER_AGENT,
    HW_CONTENT_TYPE,
    InjectedAbort,
    Response,
    Transport,
    TransportError,
    with_query,
)

_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class RegistryError(Exception):
    """A non-2xx answer (client.go `do`): `status` and the start of the body, as Harbor logs them."""

    def __init__(self, status: int, body: bytes, exchange=None):
        self.status, self.body, self.exchange = status, body, exchange
        super().__init__(f"http status code: {status}, body: {body[:500].decode('utf-8', 'replace')}")

    @property
    def not_found(self) -> bool:
        return self.status == 404


class ChunkPushError(Exception):
    """PushBlobChunk failed; `location` and `end` are what Harbor continues from (after the
    upload-status call, or `start - 1` with the old location when that call failed too)."""

    def __init__(self, cause: Exception, location: str, end: int, status_error: Exception | None = None):
        self.cause, self.location, self.end, self.status_error = cause, location, end, status_error
        extra = f"; failed to get upload status: {status_error}" if status_error else ""
        super().__init__(f"{cause}{extra}")


@dataclass(frozen=True)
class ExistDescriptor:
    """What ManifestExist reports; `digest` is empty when the huawei-SWR adapter checked."""

    digest: str
    media_type: str
    size: int


def is_digest(reference: str) -> bool:
    """digest.Parse succeeding (go-digest's grammar, loosely)."""
    return bool(_DIGEST_RE.match(reference))


def parse_links(value: str) -> list[tuple[str, str]]:
    """lib.ParseLinks: comma-separated `<url>; rel="next"` entries -> [(url, rel)]."""
    links = []
    for part in value.split(","):
        url, rel = "", ""
        for attr in part.split(";"):
            attr = attr.strip()
            if not attr:
                continue
            if attr.startswith("<") and attr.endswith(">"):
                url = attr[1:-1]
                continue
            key, _, val = attr.partition("=")
            if key == "rel":
                rel = val.strip('"')
        if url:
            links.append((url, rel))
    return links


def next_link(value: str | None) -> str:
    return next((url for url, rel in parse_links(value or "") if rel == "next"), "")


def parse_content_range(value: str | None) -> tuple[int, int]:
    """client.go parseContentRange: exactly `start-end`."""
    parts = (value or "").split("-")
    if len(parts) != 2:
        raise ValueError(f"invalid content range format, {value}")
    return int(parts[0]), int(parts[1])


class RegistryClient:
    """One Harbor registry client: the native adapter's `registry.Client` for one adapter instance
    (so its auth probe and token cache live as long as the instance)."""

    def __init__(self, url: str, username: str, password: str, transport: Transport, *,
                 purpose_prefix: str = "", probe_prefix: bool = True):
        self.url = url.rstrip("/")
        self.transport = transport
        self.authorizer = RegistryAuthorizer(username, password, transport, probe_prefix=probe_prefix)
        self.prefix = purpose_prefix

    # --- plumbing -------------------------------------------------------------------------------
    def _send(self, purpose: str, method: str, url: str, headers: list[tuple[str, str]] | None = None,
              *, allow_error: bool = False, **kw) -> Response:
        """client.go `do`: authorizer first, then User-Agent; non-2xx becomes RegistryError."""
        hdrs = list(headers or [])
        auth = self.authorizer.header(method, url)
        if auth:
            hdrs = [h for h in hdrs if h[0].lower() != "authorization"] + [auth]
        hdrs = [h for h in hdrs if h[0].lower() != "user-agent"] + [("User-Agent", HARBOR_USER_AGENT)]
        resp = self.transport.send(method, url, hdrs, purpose=self.prefix + purpose, **kw)
        if not resp.ok and not allow_error:
            body = resp.body if not resp.streamed else b""
            if resp.streamed:
                resp.close()
            raise RegistryError(resp.status, body, resp.exchange)
        return resp

    def manifest_url(self, repository: str, reference: str) -> str:
        return f"{self.url}/v2/{repository}/manifests/{reference}"

    def blob_url(self, repository: str, digest: str) -> str:
        return f"{self.url}/v2/{repository}/blobs/{digest}"

    # --- reads ----------------------------------------------------------------------------------
    def ping(self) -> None:
        self._send("ping", "GET", f"{self.url}/v2/")

    def catalog(self, page_size: int = 1000) -> list[str]:
        """All repositories, `_catalog?n=1000` then every `Link: <...>; rel="next"`."""
        return self._follow("catalog", f"{self.url}/v2/_catalog?n={page_size}", "repositories")

    def list_tags(self, repository: str, page_size: int | None = None) -> list[str]:
        """All tags: `tags/list` (Harbor sends no `n`) then every `Link` page."""
        query = f"?n={page_size}" if page_size else ""
        return self._follow("tags-list", f"{self.url}/v2/{repository}/tags/list{query}", "tags")

    def _follow(self, purpose: str, url: str, key: str) -> list[str]:
        found: list[str] = []
        seen: set[str] = set()
        while url:
            if url in seen:  # Harbor would loop for ever; a test client stops
                raise ValueError(f"Link header loops back to {url}")
            seen.add(url)
            resp = self._send(purpose, "GET", url)
            doc = json.loads(resp.body)
            values = doc.get(key) if isinstance(doc, dict) else None
            if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise ValueError(f"{key} is not a list of strings: {values!r}")
            found.extend(values or [])
            url = next_link(resp.header("Link"))
            if url and "://" not in url:
                url = self.url + url
        return found

    def manifest_exist(self, repository: str, reference: str, purpose: str = "manifest-exist"
                       ) -> tuple[bool, ExistDescriptor | None]:
        headers = [("Accept", t) for t in MANIFEST_ACCEPTS]
        try:
            resp = self._send(purpose, "HEAD", self.manifest_url(repository, reference), headers)
        except RegistryError as exc:
            if exc.not_found:
                return False, None
            raise
        length = resp.header("Content-Length") or "0"
        return True, ExistDescriptor(resp.header("Docker-Content-Digest") or "", resp.header("Content-Type") or "",
                                     int(length) if length.isdigit() else 0)

    def pull_manifest(self, repository: str, reference: str) -> Manifest:
        headers = [("Accept", t) for t in MANIFEST_ACCEPTS]
        resp = self._send("manifest-pull", "GET", self.manifest_url(repository, reference), headers)
        content_type = (resp.header("Content-Type") or "").split(";")[0].strip()
        try:
            media_type = manifest_media_type(resp.body, content_type or None)
        except SourceError as exc:
            raise SourceError(f"{repository}:{reference}: {exc}") from None
        return Manifest(media_type, resp.body, resp.header("Docker-Content-Digest") or "")

    def blob_exist(self, repository: str, digest: str) -> bool:
        try:
            self._send("blob-exist", "HEAD", self.blob_url(repository, digest))
        except RegistryError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def pull_blob(self, repository: str, digest: str) -> tuple[int, Iterator[bytes]]:
        resp = self._send("blob-pull", "GET", self.blob_url(repository, digest),
                          [("Accept-Encoding", "identity")], stream=True)
        length = resp.header("Content-Length") or ""
        return (int(length) if length.isdigit() else 0), resp.iter_content()

    def pull_blob_chunk(self, repository: str, digest: str, start: int, end: int) -> tuple[int, Iterator[bytes]]:
        headers = [("Accept-Encoding", "identity"), ("Range", f"bytes={start}-{end}")]
        resp = self._send("blob-pull-chunk", "GET", self.blob_url(repository, digest), headers, stream=True)
        length = resp.header("Content-Length") or ""
        return (int(length) if length.isdigit() else 0), resp.iter_content()

    # --- writes ---------------------------------------------------------------------------------
    def initiate_blob_upload(self, repository: str) -> tuple[str, str]:
        resp = self._send("upload-init", "POST", f"{self.url}/v2/{repository}/blobs/uploads/",
                          [("Content-Length", "0")])
        return resp.header("Location") or "", resp.header("Docker-Upload-UUID") or ""

    def push_blob(self, repository: str, digest: str, size: int, body: Iterable[bytes]) -> None:
        """PushBlob: initiate, then one PUT `<Location>&digest=` (query re-encoded, no Content-Type)."""
        location, _ = self.initiate_blob_upload(repository)
        url = with_query(self.url, location, {"digest": digest})
        self._send("blob-put", "PUT", url, body=body, length=size)

    def push_blob_chunk(self, repository: str, digest: str, blob_size: int, chunk: Iterable[bytes], start: int,
                        end: int, location: str, *, chunked_encoding: bool = False) -> tuple[str, int]:
        """PushBlobChunk: POST first when start == 0; PATCH, or PUT with the digest for the last
        chunk; `Content-Range: start-end`. On failure, asks the upload status (GET) for where to resume."""
        if start == 0:
            try:
                location, _ = self.initiate_blob_upload(repository)
            except (RegistryError, TransportError) as exc:
                # Harbor returns `end` here (not start - 1), so its retry skips to the next chunk.
                raise ChunkPushError(exc, "", end) from exc
        last = end == blob_size - 1
        url = with_query(self.url, location, {"digest": digest} if last else {})
        method = "PUT" if last else "PATCH"
        framing = {"chunked": True} if chunked_encoding else {"length": end - start + 1}
        try:
            resp = self._send("chunk-put" if last else "chunk-patch", method, url,
                              [("Content-Range", f"{start}-{end}")], body=chunk, **framing)
        except (RegistryError, TransportError, InjectedAbort) as exc:
            try:
                new_location, new_end = self.upload_status(url)
            except (RegistryError, TransportError, AuthError, ValueError) as status_error:
                raise ChunkPushError(exc, location, start - 1, status_error) from exc
            raise ChunkPushError(exc, new_location, new_end) from exc
        return resp.header("Location") or "", end

    def upload_status(self, url: str) -> tuple[str, int]:
        """getUploadStatus: GET the upload URL; `Range: start-end` and `Location` say where to go on."""
        resp = self._send("upload-status", "GET", url)
        _, end = parse_content_range(resp.header("Range"))
        return resp.header("Location") or "", end

    def push_manifest(self, repository: str, reference: str, media_type: str, payload: bytes) -> str:
        resp = self._send("manifest-put", "PUT", self.manifest_url(repository, reference),
                          [("Content-Type", media_type)], body=payload)
        return resp.header("Docker-Content-Digest") or ""

    def delete_manifest(self, repository: str, reference: str) -> None:
        """DeleteManifest: a tag is first resolved with a HEAD, then the digest is deleted."""
        if not is_digest(reference):
            exists, desc = self.manifest_exist(repository, reference, purpose="manifest-resolve")
            if not exists:
                raise RegistryError(404, f"{repository}:{reference} not found".encode())
            reference = desc.digest
        self._send("manifest-delete", "DELETE", self.manifest_url(repository, reference))


class HuaweiClient:
    """The huawei-SWR adapter's own calls on the registry URL: Basic-authenticated /dockyard and
    /swr/auth calls, and the Bearer manifest GET/DELETE through the unmodified client (`oriClient`).
    Go sets no User-Agent on these, so they carry Go's default."""

    def __init__(self, url: str, access_key: str, access_secret: str, transport: Transport):
        self.url = url.rstrip("/")
        self.basic = basic_header(access_key, access_secret)
        self.transport = transport

    def _headers(self, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        headers = [("User-Agent", GO_USER_AGENT), ("Content-Type", HW_CONTENT_TYPE), *extra]
        return headers

    def _basic(self, purpose: str, method: str, url: str, body: bytes | None = None) -> Response:
        headers = self._headers(*([self.basic] if self.basic else []))
        resp = self.transport.send(method, url, headers, purpose=purpose, body=body)
        if not resp.ok:
            raise RegistryError(resp.status, resp.body, resp.exchange)
        return resp

    def get_namespace(self, namespace: str) -> dict:
        """GetNamespace: any non-2xx is an error (it aborts Harbor's whole execution)."""
        resp = self._basic("namespace-get", "GET", f"{self.url}/dockyard/v2/namespaces/{namespace}")
        doc = json.loads(resp.body)
        if not isinstance(doc, dict):
            raise ValueError(f"namespace answer is not a JSON object: {resp.body[:200]!r}")
        _check_hw_namespace(doc)
        return doc

    def create_namespace(self, namespace: str) -> None:
        body = json.dumps({"namespace": namespace}, separators=(",", ":")).encode()
        self._basic("namespace-create", "POST", f"{self.url}/dockyard/v2/namespaces", body)

    def list_namespaces(self) -> list[dict]:
        resp = self._basic("namespace-list", "GET", f"{self.url}/dockyard/v2/visible/namespaces")
        doc = json.loads(resp.body)
        if not isinstance(doc, dict):
            raise ValueError("visible namespaces answer is not a JSON object")
        entries = doc.get("namespaces") or []
        for entry in entries:
            _check_hw_namespace(entry)
        return entries

    def jwt_token(self, repository: str) -> str:
        """getJwtToken: scope not URL-encoded, `push,pull`, no service; issued_at must be RFC 3339."""
        url = f"{self.url}/swr/auth/v2/registry/auth?scope=repository:{repository}:push,pull"
        resp = self._basic("swr-token", "GET", url)
        doc = json.loads(resp.body)
        if not isinstance(doc, dict):
            raise ValueError("token answer is not a JSON object")
        issued = doc.get("issued_at")
        if issued is not None and not is_rfc3339(issued):
            raise ValueError(f"issued_at {issued!r} does not unmarshal into time.Time (RFC 3339)")
        if not isinstance(doc.get("token", ""), str) or not isinstance(doc.get("expires_in", 0), int):
            raise ValueError("token answer has fields of the wrong JSON type")
        return doc.get("token") or ""

    def manifest_exist(self, repository: str, reference: str) -> tuple[bool, ExistDescriptor | None]:
        """ManifestExist: a GET without Accept; 404 absent; a 2xx body must be a JSON object.
        The descriptor it reports has no digest."""
        token = self.jwt_token(repository)
        url = f"{self.url}/v2/{repository}/manifests/{reference}"
        resp = self.transport.send("GET", url, self._headers(("Authorization", f"Bearer {token}")),
                                   purpose="manifest-exist")
        if resp.status == 404:
            return False, None
        if not resp.ok:
            raise RegistryError(resp.status, resp.body, resp.exchange)
        doc = json.loads(resp.body)  # hwManifest: a JSON object is required
        if not isinstance(doc, dict):
            raise ValueError(f"manifest body is not a JSON object: {resp.body[:200]!r}")
        length = resp.header("Content-Length") or "0"
        return True, ExistDescriptor("", resp.header("Content-Type") or "", int(length) if length.isdigit() else 0)

    def delete_manifest(self, repository: str, reference: str) -> None:
        """DeleteManifest: DELETE by the reference as given (tag or digest), Bearer from getJwtToken."""
        token = self.jwt_token(repository)
        url = f"{self.url}/v2/{repository}/manifests/{reference}"
        resp = self.transport.send("DELETE", url, self._headers(("Authorization", f"Bearer {token}")),
                                   purpose="manifest-delete")
        if not resp.ok:
            raise RegistryError(resp.status, resp.body, resp.exchange)

    def fetch_repositories(self) -> list[dict]:
        """FetchArtifacts' listing: the JSON array, checked field by field as Go unmarshals it."""
        resp = self._basic("repositories", "GET", f"{self.url}/dockyard/v2/repositories?filter=center::self")
        doc = json.loads(resp.body)
        if not isinstance(doc, list):
            raise ValueError(f"repositories answer is not a JSON array: {resp.body[:200]!r}")
        for entry in doc:
            check_hw_repository(entry)
        return doc


# Go's encoding/json into hwNamespace / hwRepoQueryResult: a present field must have the right type.
_HW_NAMESPACE = {"id": int, "name": str, "creator_name": str, "auth": int, "user_count": int, "image_count": int}
HW_REPOSITORY_FIELDS = {
    "name": str, "category": str, "description": str, "size": int, "is_public": bool, "num_images": int,
    "num_download": int, "created_at": "time", "updated_at": "time", "logo": str, "url": str, "path": str,
    "internal_path": str, "domain_name": str, "namespace": str, "tags": "strings", "status": bool,
    "total_range": int,
}


def _check_fields(doc: dict, fields: dict, what: str) -> None:
    if not isinstance(doc, dict):
        raise ValueError(f"{what} entry is not a JSON object: {doc!r}")
    for key, kind in fields.items():
        value = doc.get(key)
        if value is None:
            continue  # absent or null leaves Go's zero value
        if kind == "time":
            ok = is_rfc3339(value)
        elif kind == "strings":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise ValueError(f"{what} field {key!r} = {value!r} does not unmarshal into Go's type")


def _check_hw_namespace(doc: dict) -> None:
    _check_fields(doc, _HW_NAMESPACE, "hwNamespace")


def check_hw_repository(doc: dict) -> None:
    _check_fields(doc, HW_REPOSITORY_FIELDS, "hwRepoQueryResult")
