"""HarborPusher: one replication task of Harbor's jobservice in push mode, as a target sees it
(src/controller/replication/transfer/image/transfer.go over the native or huawei-SWR adapter)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from tests.harbor_push.auth import AuthError
from tests.harbor_push.client import (
    ChunkPushError,
    HuaweiClient,
    RegistryClient,
    RegistryError,
)
from tests.harbor_push.sources import FOREIGN_LAYER, MANIFEST_TYPES, Descriptor, Source, SourceError
from tests.harbor_push.wire import InjectedAbort, Recorder, Transport, TransportError

MIB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 10 * MIB  # REPLICATION_CHUNK_SIZE
DOCKER_REGISTRY = "docker-registry"
HUAWEI_SWR = "huawei-SWR"
MODES = (DOCKER_REGISTRY, HUAWEI_SWR)
CONTENT_LENGTH = "content-length"  # Harbor main: chunk requests carry req.ContentLength
CHUNKED = "chunked"  # v2.15.2: the Content-Length header string is ignored, so Go sends chunked
MAIN, V2_15_2 = "main", "v2.15.2"  # v2.15.2 also probes <host>/v2/ without the URL's path prefix
FAILURES = (RegistryError, TransportError, AuthError, ChunkPushError, SourceError, ValueError, InjectedAbort)


@dataclass
class ChunkAbort:
    """A simulated failure: cut the `chunk`-th chunk request (0-based, per blob) off after
    `after_bytes` bytes of its body, `times` times; `digest` limits it to one blob."""

    chunk: int = 1
    after_bytes: int = 0
    digest: str | None = None
    times: int = 1
    fired: int = 0

    def applies(self, digest: str, chunk: int) -> bool:
        return (self.fired < self.times and chunk == self.chunk
                and (self.digest is None or self.digest == digest))


@dataclass
class BlobOutcome:
    digest: str
    size: int
    status: str  # "pushed" | "exists" | "foreign" | "failed"
    chunked: bool = False
    attempts: int = 0
    error: str | None = None


@dataclass
class ReferenceOutcome:
    """One reference of a copy: what happened, and why."""

    reference: str
    dest_reference: str
    status: str  # "copied" | "exists" (same digest) | "skipped" (override off) | "failed"
    digest: str = ""
    media_type: str = ""
    overridden: bool = False
    error: str | None = None
    blobs: list[BlobOutcome] = field(default_factory=list)
    children: list["ReferenceOutcome"] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class _ByReference:
    """result[reference]: the outcome for that reference."""

    outcomes: list

    def __getitem__(self, reference: str):
        return next(o for o in self.outcomes if o.reference == reference)


@dataclass
class CopyResult(_ByReference):
    """A task's result: per-reference outcomes in order; `ok` is Harbor's task success."""

    repository: str
    outcomes: list[ReferenceOutcome] = field(default_factory=list)
    error: str | None = None  # set when the task failed before any reference (e.g. PrepareForPush)

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.ok for o in self.outcomes)


@dataclass
class DeleteOutcome:
    reference: str
    status: str  # "deleted" | "absent" | "failed"
    error: str | None = None


@dataclass
class DeleteResult(_ByReference):
    repository: str
    outcomes: list[DeleteOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)


@dataclass
class FetchedRepository:
    """Pull mode: a repository and its tags as FetchArtifacts found them."""

    name: str
    tags: list[str]


class _Task:
    """One task job: its own destination adapter (fresh auth probe and token cache)."""

    def __init__(self, pusher: "HarborPusher"):
        self.p = pusher
        self.native = pusher.registry_client()
        self.huawei = pusher.huawei_client() if pusher.mode == HUAWEI_SWR else None

    # --- adapter calls that differ between the providers -----------------------------------------
    def manifest_exist(self, repository: str, reference: str):
        if self.huawei:
            return self.huawei.manifest_exist(repository, reference)
        return self.native.manifest_exist(repository, reference)

    def delete_manifest(self, repository: str, reference: str) -> None:
        if self.huawei:
            self.huawei.delete_manifest(repository, reference)
        else:
            self.native.delete_manifest(repository, reference)

    # --- copyArtifact -------------------------------------------------------------------------------
    def copy_artifact(self, source: Source, src_repo: str, src_ref: str, dst_repo: str, dst_ref: str,
                      override: bool) -> ReferenceOutcome:
        outcome = ReferenceOutcome(src_ref, dst_ref, "failed")
        try:
            manifest = source.pull_manifest(src_repo, src_ref)
            outcome.digest, outcome.media_type = manifest.digest, manifest.media_type
            exists, desc = self.manifest_exist(dst_repo, dst_ref)
            if exists:
                if desc is not None and desc.digest == manifest.digest:
                    outcome.status = "exists"
                    return outcome
                if not override:
                    outcome.status = "skipped"
                    return outcome
                outcome.overridden = True
            for content in manifest.references():
                if content.media_type in MANIFEST_TYPES:
                    # children by digest, with override on (copyContent)
                    child = self.copy_artifact(source, src_repo, content.digest, dst_repo, content.digest, True)
                    outcome.children.append(child)
                    if not child.ok:
                        raise RuntimeError(child.error)
                elif content.media_type == FOREIGN_LAYER:
                    outcome.blobs.append(BlobOutcome(content.digest, content.size, "foreign"))
                else:
                    blob = self.copy_blob(source, src_repo, dst_repo, content)
                    outcome.blobs.append(blob)
                    if blob.status == "failed":
                        raise RuntimeError(blob.error)
            self.native.push_manifest(dst_repo, dst_ref, manifest.media_type, manifest.payload)
            outcome.status = "copied"
        except (*FAILURES, RuntimeError) as exc:
            outcome.status, outcome.error = "failed", str(exc)
        return outcome

    # --- blobs ------------------------------------------------------------------------------------
    def copy_blob(self, source: Source, src_repo: str, dst_repo: str, content: Descriptor) -> BlobOutcome:
        if self.p.copy_by_chunk:
            return self._copy_chunks_with_retry(source, src_repo, dst_repo, content)
        return self._copy_blob_with_retry(source, src_repo, dst_repo, content)

    def _backoffs(self, count: int) -> Iterator[int]:
        backoff = self.p.backoff
        for attempt in range(1, count + 1):
            yield attempt
            if attempt < count:
                self.p.sleep(backoff)
                backoff *= 2

    def _copy_blob_with_retry(self, source, src_repo, dst_repo, content: Descriptor) -> BlobOutcome:
        outcome = BlobOutcome(content.digest, content.size, "failed")
        for attempt in self._backoffs(self.p.blob_retries):
            outcome.attempts = attempt
            try:
                if self.native.blob_exist(dst_repo, content.digest):
                    outcome.status = "exists"
                    return outcome
                self._monolithic(source, src_repo, dst_repo, content)
                outcome.status, outcome.error = "pushed", None
                return outcome
            except FAILURES as exc:
                outcome.error = str(exc)
        return outcome

    def _monolithic(self, source, src_repo, dst_repo, content: Descriptor) -> None:
        size, data = source.pull_blob(src_repo, content.digest)
        self.native.push_blob(dst_repo, content.digest, size or content.size, data)

    def _copy_chunks_with_retry(self, source, src_repo, dst_repo, content: Descriptor) -> BlobOutcome:
        outcome = BlobOutcome(content.digest, content.size, "failed", chunked=content.size > self.p.chunk_size)
        state = {"start": -1, "end": -1, "location": "", "index": 0}
        for attempt in self._backoffs(self.p.chunk_retries):
            outcome.attempts = attempt
            try:
                if self.native.blob_exist(dst_repo, content.digest):
                    outcome.status = "exists"
                    return outcome
                if content.size <= self.p.chunk_size:
                    self._monolithic(source, src_repo, dst_repo, content)
                else:
                    self._chunks(source, src_repo, dst_repo, content, state)
                outcome.status, outcome.error = "pushed", None
                return outcome
            except FAILURES as exc:
                outcome.error = str(exc)
        return outcome

    def _chunks(self, source, src_repo, dst_repo, content: Descriptor, state: dict) -> None:
        """copyBlobByChunk: the cursor (start, end, location) survives a failed attempt."""
        end_range = content.size - 1
        while True:
            state["start"] = state["end"] + 1
            state["end"] = min(state["start"] + self.p.chunk_size - 1, end_range)
            start, end = state["start"], state["end"]
            _, data = source.pull_blob_chunk(src_repo, content.digest, start, end)
            index = state["index"]
            state["index"] += 1
            data = self.p._maybe_abort(content.digest, index, data)
            try:
                state["location"], _ = self.native.push_blob_chunk(
                    dst_repo, content.digest, content.size, data, start, end, state["location"],
                    chunked_encoding=self.p.chunk_transfer == CHUNKED)
            except ChunkPushError as exc:
                state["location"], state["end"] = exc.location, exc.end
                raise
            if end == end_range:
                return


class HarborPusher:
    """Replays Harbor's jobservice against a replication target.

    `HarborPusher(url, access_key, access_secret, mode="docker-registry"|"huawei-SWR",
    copy_by_chunk=False, chunk_size=10 MiB, chunk_transfer="content-length"|"chunked",
    harbor_version="main"|"v2.15.2")` (chunk_transfer defaults to what that version sends);
    `copy(source, dest_repo, references, override=...)` runs one task (PrepareForPush first in
    huawei-SWR mode) and returns a CopyResult; `delete(...)` runs a deletion task;
    `fetch_artifacts(...)` lists the target as a pull-mode source. Every request is in `recorder`.
    """

    def __init__(self, url: str, access_key: str, access_secret: str, *, mode: str = DOCKER_REGISTRY,
                 copy_by_chunk: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 chunk_transfer: str | None = None, blob_retries: int = 5, chunk_retries: int = 5,
                 backoff: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                 recorder: Recorder | None = None, verify: bool = True, ca_certs: str | None = None,
                 timeout: float = 1800.0, harbor_version: str = MAIN,
                 faults: Sequence[ChunkAbort] = ()):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if harbor_version not in (MAIN, V2_15_2):
            raise ValueError(f"harbor_version must be {MAIN!r} or {V2_15_2!r}")
        if chunk_transfer is None:
            chunk_transfer = CHUNKED if harbor_version == V2_15_2 else CONTENT_LENGTH
        if chunk_transfer not in (CONTENT_LENGTH, CHUNKED):
            raise ValueError("chunk_transfer must be 'content-length' or 'chunked'")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.url = url.rstrip("/")
        self.access_key, self.access_secret = access_key, access_secret
        self.mode, self.copy_by_chunk, self.chunk_size = mode, copy_by_chunk, chunk_size
        self.chunk_transfer = chunk_transfer
        self.blob_retries, self.chunk_retries = blob_retries, chunk_retries
        self.backoff, self.sleep = backoff, sleep
        self.harbor_version = harbor_version
        self.faults = list(faults)
        self.transport = Transport(recorder, verify=verify, ca_certs=ca_certs, timeout=timeout)
        self.recorder = self.transport.recorder

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "HarborPusher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def huawei_client(self) -> HuaweiClient:
        return HuaweiClient(self.url, self.access_key, self.access_secret, self.transport)

    def registry_client(self) -> RegistryClient:
        """A fresh native client (its own probe and token cache), as a new adapter instance has."""
        return RegistryClient(self.url, self.access_key, self.access_secret, self.transport,
                              probe_prefix=self.harbor_version != V2_15_2)

    # --- PrepareForPush -----------------------------------------------------------------------------
    def prepare_for_push(self, repositories: Iterable[str]) -> list[str]:
        """huawei-SWR: GET each destination's namespace (first path component); POST the missing
        ones. docker-registry: nothing. Returns the namespaces created. Raises on any failure (Harbor
        then fails the whole execution)."""
        if self.mode != HUAWEI_SWR:
            return []
        client = self.huawei_client()
        missing: dict[str, None] = {}
        for repository in repositories:
            namespace = repository.split("/")[0]
            found = client.get_namespace(namespace)
            if found.get("name") != namespace:
                missing[namespace] = None
        for namespace in missing:
            client.create_namespace(namespace)
        return list(missing)

    # --- a copy task ------------------------------------------------------------------------------
    def copy(self, source: Source, dest_repo: str, references: Sequence[str], *, override: bool = True,
             source_repo: str | None = None, dest_references: Sequence[str] | None = None,
             prepare: bool = True) -> CopyResult:
        """One replication task: every reference in turn (a failure does not stop the others)."""
        result = CopyResult(dest_repo)
        if prepare:
            try:
                self.prepare_for_push([dest_repo])
            except FAILURES as exc:
                result.error = f"failed to do the prepare work for pushing/uploading resources: {exc}"
                return result
        dests = list(dest_references or references)
        if len(dests) != len(references):
            raise ValueError("dest_references must match references one to one")
        task = _Task(self)
        for ref, dst_ref in zip(references, dests, strict=True):
            result.outcomes.append(task.copy_artifact(source, source_repo or dest_repo, ref, dest_repo, dst_ref,
                                                      override))
        return result

    # --- a deletion task ----------------------------------------------------------------------------
    def delete(self, dest_repo: str, references: Sequence[str]) -> DeleteResult:
        """transfer.delete: ManifestExist per reference (absent: skipped), then DeleteManifest; the
        first failure ends the task."""
        task, result = _Task(self), DeleteResult(dest_repo)
        for ref in references:
            try:
                exists, _ = task.manifest_exist(dest_repo, ref)
                if not exists:
                    result.outcomes.append(DeleteOutcome(ref, "absent"))
                    continue
                task.delete_manifest(dest_repo, ref)
                result.outcomes.append(DeleteOutcome(ref, "deleted"))
            except FAILURES as exc:
                result.outcomes.append(DeleteOutcome(ref, "failed", str(exc)))
                break
        return result

    # --- pull mode ----------------------------------------------------------------------------------
    def fetch_artifacts(self, repositories: Sequence[str] | None = None) -> list[FetchedRepository]:
        """FetchArtifacts with the target as the source. docker-registry: the given repositories
        (a specific name filter) or `_catalog`, then `tags/list` each, following `Link`.
        huawei-SWR: `/dockyard/v2/repositories?filter=center::self` (filters ignored)."""
        if self.mode == HUAWEI_SWR:
            entries = self.huawei_client().fetch_repositories()
            return [FetchedRepository(f"{e.get('namespace') or ''}/{e.get('name') or ''}", list(e.get("tags") or []))
                    for e in entries]
        client = self.registry_client()
        names = list(repositories) if repositories else client.catalog()
        found = []
        for name in names:
            tags = client.list_tags(name)
            if tags:
                found.append(FetchedRepository(name, tags))
        return found

    # --- fault injection ----------------------------------------------------------------------------
    def _maybe_abort(self, digest: str, index: int, data: Iterator[bytes]) -> Iterator[bytes]:
        for fault in self.faults:
            if fault.applies(digest, index):
                fault.fired += 1
                return _cut(data, fault.after_bytes)
        return data


def _cut(data: Iterator[bytes], limit: int) -> Iterator[bytes]:
    sent = 0
    for buf in data:
        if sent + len(buf) >= limit:
            if limit > sent:
                yield buf[:limit - sent]
            raise InjectedAbort(f"chunk body cut off after {limit} bytes")
        sent += len(buf)
        yield buf
    raise InjectedAbort(f"chunk body cut off after {sent} bytes")
