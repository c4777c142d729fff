"""The copy engine: images in one pool, blobs in a bounded pool, retries with backoff, then a final pass.

For each image: when SWR's tag listing gives the destination tag a digest, ask the source whether its
tag still is that manifest (If-None-Match; 304 means up to date, and nothing more is sent). Otherwise
read the source manifest (and select platforms), make sure the SWR organization exists, and skip when
the destination already has the same manifest digest (the listing may confirm it; anything else is
asked with a HEAD). Otherwise its blobs go
to the blob pool (blobs.py), and its manifests follow them, index children before the index, all
byte-exact.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
import urllib3

from adapter.sync import manifests
from adapter.sync.blobs import Blobs, failed
from adapter.sync.errors import CopyError, describe
from adapter.transfer import convert
from adapter.transfer.client import TransferError
from adapter.transfer.limits import LAYER_LIMIT, layer_too_large

CONFIG_LIMIT = 4 * 1024 * 1024
MEMO = 512  # source manifests (and SWR tag listings) kept for the other jobs that need them
TOKEN_BATCH = 16  # destination repositories per token request


@dataclass
class Options:
    proc: int = 5
    retries: int = 2
    backoff: float = 0.5
    oses: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    single: bool = False  # out of an index take one image (copy without --all)
    dry_run: bool = False
    listing: bool = True  # let SWR's tag listing confirm up-to-date tags (else one HEAD per tag)
    force: bool = False  # put manifests even where the destination has them (image-syncer's --force)
    schema1: bool = True  # copy Docker schema 1 manifests as they are (--strict: refuse them)
    format: str = "auto"  # auto: convert an OCI index SWR refuses; v2s2: convert OCI images first; oci: never
    max_layer_size: int | None = LAYER_LIMIT  # SWR destinations only


@dataclass
class Job:
    source: object  # a Remote or a Layout
    src_repo: str
    src_ref: str
    dest: object  # a Remote
    dst_repo: str
    dst_ref: str
    src_name: str = ""

    @property
    def dst_name(self) -> str:
        return f"{self.dest.host}/{self.dst_repo}{'@' if ':' in self.dst_ref else ':'}{self.dst_ref}"


@dataclass
class Result:
    source: str
    destination: str
    status: str  # copied | skipped | failed | planned
    reason: str = ""
    digest: str = ""
    bytes: int = 0
    blobs: dict = field(default_factory=lambda: {"uploaded": 0, "mounted": 0, "existing": 0})
    retryable: bool = False
    converted: bool = False  # pushed as Docker schema 2; `digest` is then the converted image's
    dropped: int = 0  # attestation manifests left out by the conversion
    job: Job | None = field(default=None, repr=False)


def _quietly(call, *args) -> None:
    try:
        call(*args)
    except Exception:  # noqa: BLE001 - the jobs repeat the call and report what goes wrong
        pass


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, CopyError):
        return exc.retryable
    if isinstance(exc, TransferError):
        return exc.transient
    return isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError, OSError))


def ordered(pool: ThreadPoolExecutor, call, items: Iterable, ahead: int) -> Iterator:
    """call(item) for each item on `pool`, results in item order, with at most `ahead` submitted and not yet
    taken: `items` is drawn only as fast as the work goes (a lazy pool.map, whose own map submits everything
    at once), so tens of thousands of images never wait in memory as queued jobs."""
    pending: deque[Future] = deque()
    for item in items:
        pending.append(pool.submit(call, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def bounded(pool: ThreadPoolExecutor, call, items: Iterable, limit: int) -> list[Future]:
    """call(item) for each item on `pool`, with at most `limit` submitted and not yet done: `items` (jobs still
    being planned) is drawn only as fast as the work goes, and no queue of every job builds up in the pool.
    Unlike `ordered`, a slow item holds back nothing but its own slot."""
    slots, futures = threading.BoundedSemaphore(limit), []
    for item in items:
        slots.acquire()
        futures.append(pool.submit(call, item))
        futures[-1].add_done_callback(lambda _: slots.release())
    return futures


def token_batches(destinations: list[tuple]) -> dict[tuple, tuple]:
    """(id(remote), repository) -> (id(remote), index, repositories): the repositories whose destination
    tokens are asked for in one request, TOKEN_BATCH at a time, in name order."""
    repos: dict[int, set[str]] = {}
    for remote, repo in destinations:
        repos.setdefault(id(remote), set()).add(repo)
    batches = {}
    for key, found in repos.items():
        names = sorted(found)
        for i in range(0, len(names), TOKEN_BATCH):
            batches.update({(key, name): (key, i, names[i:i + TOKEN_BATCH]) for name in names[i:i + TOKEN_BATCH]})
    return batches


class Engine:
    def __init__(self, options: Options, reporter, budget=None, sleep=time.sleep):
        self.opt, self.reporter, self.budget, self._sleep = options, reporter, budget, sleep
        self.blobs = Blobs(options.proc, self.retry, reporter, budget)
        # Image jobs mostly wait (on their blobs, or on a manifest check), so there are more of them.
        self._image_pool = ThreadPoolExecutor(2 * options.proc, thread_name_prefix="sync-image")
        self._memo: dict[tuple, Future] = {}
        self._lock = threading.Lock()
        self._batches: dict[tuple, tuple] = {}  # (id(remote), repository) -> (id(remote), index, repositories)

    def close(self) -> None:
        self._image_pool.shutdown(cancel_futures=True)
        self.blobs.close()

    def run(self, jobs: Iterable[Job], destinations: list[tuple] | None = None) -> list[Result]:
        """Every job once, then once more for those that failed in a way worth retrying.

        `jobs` may still be arriving (the plan lists source tags rule by rule): each starts as it comes.
        `destinations` ((remote, repository) pairs, known from the rules before any tag is listed; else
        the jobs' own) plan the batches in which destination tokens are asked for."""
        if destinations is None:
            jobs = list(jobs)
            destinations = [(job.dest, job.dst_repo) for job in jobs]
        self._batches = token_batches(destinations)
        results = [future.result() for future in bounded(self._image_pool, self.copy, jobs, 4 * self.opt.proc)]
        again = [i for i, r in enumerate(results) if r.status == "failed" and r.retryable]
        if again and not self.opt.dry_run:
            self.reporter.final_pass(len(again))
            for i, result in zip(again, self._image_pool.map(self.copy, [results[i].job for i in again]),
                                 strict=True):
                results[i] = result
        return results

    def _tokens(self, job: Job) -> None:
        """The destination token for the job's repository, asked for together with its batch the first time
        any of them needs one (when SWR's listing confirms every tag, none is asked for at all)."""
        batch = self._batches.get((id(job.dest), job.dst_repo))
        if batch is not None:
            self._shared(("tokens", *batch[:2]), lambda: self._fetch_tokens(job.dest, batch[2]))

    def _fetch_tokens(self, dest, repos: list[str]) -> None:
        # A token covers only the repositories whose organization exists when it is made: those first.
        if not self.opt.dry_run:
            for org in sorted({repo.split("/")[0] for repo in repos}):
                _quietly(dest.ensure_organization, org)
        _quietly(dest.prefetch, repos)

    def copy(self, job: Job) -> Result:
        self.reporter.started(job)
        try:
            result = self._copy(job)
        except Exception as exc:  # one image's failure is reported, never raised
            result = Result(job.src_name, job.dst_name, "failed", describe(exc), retryable=retryable(exc))
        result.job = job if result.status == "failed" and result.retryable else None  # kept for the final pass only
        self.reporter.finished(result)
        return result

    # --- one image ------------------------------------------------------------------------------
    def _copy(self, job: Job) -> Result:
        unchanged = None if self.opt.force else self._unchanged(job)
        if unchanged:
            return Result(job.src_name, job.dst_name, "skipped", "up to date", unchanged)
        top = self._select(job)
        if top is None:
            return Result(job.src_name, job.dst_name, "skipped", "no manifest fits the platform filters")
        if self.opt.dry_run:
            return self._plan(job, top)
        self.retry(f"organization for {job.dst_name}",
                    lambda: job.dest.ensure_organization(job.dst_repo.split("/")[0]))
        current = None if self.opt.force else self._current(job, top.digest)
        if current == top.digest:
            return Result(job.src_name, job.dst_name, "skipped", "up to date", top.digest)
        if current and self._convertible(top) and current == self._docker(job, top).digest:
            return Result(job.src_name, job.dst_name, "skipped", "up to date (as Docker schema 2)", current)
        if self.opt.force:
            self._tokens(job)
        result = Result(job.src_name, job.dst_name, "copied", digest=top.digest)
        upfront = self.opt.format == "v2s2" and self._convertible(top)
        if upfront:  # attestations are left out, so are their blobs; every member is converted
            children = [self._manifest(job, d["digest"]) for d in top.children if not convert.is_attestation(d)]
        else:
            children = [c for c in (self._child(job, d) for d in top.children) if c is not None]
        self._check_sizes(job, (*children, top))
        futures = [self.blobs.transfer(job, blob, result) for m in (*children, top) for blob in m.blobs]
        for future in futures:
            future.result()
        if upfront:
            return self._put_docker(job, top, result)
        for child in children:
            self._put(job, child, child.digest)
        try:
            self._put(job, top, job.dst_ref)
        except CopyError as exc:
            if top.media_type != manifests.OCI_INDEX or not convert.refused_index(exc.code, str(exc)):
                raise
            if self.opt.format == "oci":
                raise CopyError(f"{exc} (SWR refuses OCI image indexes; --format auto, the default, or v2s2 "
                                "pushes the image as a Docker manifest list)") from None
            return self._put_docker(job, top, result)
        return result

    def _check_sizes(self, job: Job, found) -> None:
        """An image with a layer over SWR's limit fails before any of its bytes are sent."""
        if not getattr(job.dest, "is_swr", False):
            return
        for blob in (b for m in found for b in m.blobs):
            refused = layer_too_large(int(blob.get("size") or 0), self.opt.max_layer_size)
            if refused:
                raise CopyError(f"{job.src_name}: layer {blob['digest'][:19]}: {refused}")

    def _convertible(self, top: manifests.Manifest) -> bool:
        wanted = {"auto": (manifests.OCI_INDEX,), "v2s2": (manifests.OCI_INDEX, manifests.OCI_MANIFEST)}
        return top.media_type in wanted.get(self.opt.format, ())

    def _docker(self, job: Job, top: manifests.Manifest) -> convert.Converted:
        """The image in Docker schema 2 (the same every time, so a re-sync finds it up to date)."""
        def make():
            try:
                return convert.convert(top.body, top.media_type, lambda d: self._manifest(job, d).body)
            except convert.ConversionError as exc:
                raise CopyError(f"{job.src_name}: cannot be converted to Docker schema 2: {exc}") from None
        return self._shared(("docker", id(job.source), job.src_repo, top.digest), make)

    def _put_docker(self, job: Job, top: manifests.Manifest, result: Result) -> Result:
        image = self._docker(job, top)
        for child in image.children:
            self._put(job, manifests.Manifest(child, convert.DOCKER_MANIFEST, {}), convert.sha256_digest(child))
        ref = image.digest if ":" in job.dst_ref else job.dst_ref
        self._put(job, manifests.Manifest(image.body, image.media_type, {}), ref)
        result.digest, result.converted, result.dropped = image.digest, True, image.dropped
        result.reason = "converted to Docker schema 2" + (
            f", {image.dropped} attestation manifest(s) left out" if image.dropped else "")
        return result

    def _plan(self, job: Job, top: manifests.Manifest) -> Result:
        """Dry run: what would be copied; a destination that cannot be read counts as missing."""
        try:
            current = None if self.opt.force else self._current(job, top.digest)
        except CopyError:
            current = None
        if current == top.digest:
            return Result(job.src_name, job.dst_name, "skipped", "up to date", top.digest)
        return Result(job.src_name, job.dst_name, "planned", "would copy", top.digest)

    def _current(self, job: Job, wanted: str) -> str | None:
        """The destination's digest for the job's tag. SWR's listing of the repository (read once for all
        its jobs) may confirm `wanted`; it is never trusted to deny it, which a HEAD then decides."""
        if self._listed(job) == wanted:
            return wanted
        self._tokens(job)
        return self.retry(f"check {job.dst_name}", lambda: job.dest.digest(job.dst_repo, job.dst_ref))

    def _listed(self, job: Job) -> str | None:
        """The digest SWR's tag listing gives for the job's destination tag (None: no listing, or not in it)."""
        if not self.opt.listing or ":" in job.dst_ref:
            return None
        listed = self._shared(("listing", id(job.dest), job.dst_repo), lambda: job.dest.listed_digests(job.dst_repo))
        return listed.get(job.dst_ref) if listed else None

    def _unchanged(self, job: Job) -> str | None:
        """The digest, when SWR's listing gives the destination tag one and the source tag still is that
        manifest: asked with If-None-Match, which a registry answers 304 without sending the manifest.
        Only for whole images by tag; anything else goes the long way (read, select, check)."""
        if self.opt.single or self.opt.oses or self.opt.arches or ":" in job.src_ref:
            return None
        wanted = self._listed(job)
        if not wanted:
            return None
        key = ("unchanged", id(job.source), job.src_repo, job.src_ref, wanted)
        return wanted if self._shared(key, lambda: self._source_is(job, wanted)) else None

    def _source_is(self, job: Job, digest: str) -> bool:
        what = f"read {job.src_name}"
        found = self.retry(what, lambda: job.source.manifest(job.src_repo, job.src_ref, unless=digest))
        if found is None:
            return True
        manifest = self._load(*found, job.src_name)  # changed, or no 304 from this registry: keep it
        self._shared(("manifest", id(job.source), job.src_repo, job.src_ref), lambda: manifest)
        return manifest.digest == digest

    def _manifest(self, job: Job, ref: str) -> manifests.Manifest:
        """The source manifest, read once for all the destinations it goes to."""
        return self._shared(("manifest", id(job.source), job.src_repo, ref), lambda: self._read_manifest(job, ref))

    def _shared(self, key: tuple, compute):
        """compute() once per key for all the jobs that ask at the same time or soon after (a bounded memo;
        a failure is not kept, so the next job asks again)."""
        with self._lock:
            future = self._memo.get(key)
            owner = future is None or failed(future)
            if owner:
                future = self._memo[key] = Future()
                if len(self._memo) > MEMO:
                    self._memo.pop(next(iter(self._memo)))
        if owner:
            try:
                future.set_result(compute())
            except Exception as exc:
                future.set_exception(exc)
        return future.result()

    def _read_manifest(self, job: Job, ref: str) -> manifests.Manifest:
        what = f"{job.src_name} ({ref})" if ref != job.src_ref else job.src_name
        body, content_type = self.retry(f"read {what}", lambda: job.source.manifest(job.src_repo, ref))
        found = self._load(body, content_type, what)
        if ":" in ref and found.digest != ref:
            raise CopyError(f"{what}: the source sent a manifest with digest {found.digest}")
        return found

    def _load(self, body: bytes, content_type: str, what: str) -> manifests.Manifest:
        found = manifests.load(body, content_type, what, schema1=self.opt.schema1)
        if found.is_schema1:
            self.reporter.warn(f"{what}: a Docker schema 1 manifest, copied unconverted (as image-syncer "
                               "copies it); --strict refuses it")
        return found

    def _select(self, job: Job) -> manifests.Manifest | None:
        """The manifest to push, after --arch/--os (None: nothing fits); for copy, one platform of an index."""
        top = self._manifest(job, job.src_ref)
        filtered = bool(self.opt.oses or self.opt.arches)
        if not top.is_index:
            return top if not filtered or self._image_fits(job, top) else None
        if filtered or self.opt.single:
            oses, arches = (self.opt.oses, self.opt.arches) if filtered else manifests.host_platform_filter()
            top = manifests.filter_index(top, oses, arches)
        if top is not None and self.opt.single:
            top = self._manifest(job, top.children[0]["digest"])
        return top

    def _image_fits(self, job: Job, image: manifests.Manifest) -> bool:
        config = image.doc.get("config") or {}
        if not config.get("digest") or config.get("size", 0) > CONFIG_LIMIT:
            return True
        reader = self.retry(f"read config of {job.src_name}",
                             lambda: job.source.open_blob(job.src_repo, config["digest"]))
        try:
            doc = manifests.load_json(reader.read(CONFIG_LIMIT))
        finally:
            reader.close()
        return manifests.platform_matches(doc, self.opt.oses, self.opt.arches)

    def _child(self, job: Job, desc: dict) -> manifests.Manifest | None:
        """An index member that the destination lacks (None when it has it already)."""
        digest = desc["digest"]
        if self.retry(f"check {job.dst_name} ({digest})", lambda: job.dest.digest(job.dst_repo, digest)) == digest:
            return None
        child = self._manifest(job, digest)
        if child.is_index:
            raise CopyError(f"{job.src_name}: nested indexes are not supported ({digest})")
        return child

    def _put(self, job: Job, manifest: manifests.Manifest, ref: str) -> None:
        try:
            self.retry(f"put {job.dst_name}" + (f" ({ref})" if ref != job.dst_ref else ""),
                        lambda: job.dest.put_manifest(job.dst_repo, ref, manifest.body, manifest.media_type))
        except CopyError as exc:
            if not manifest.is_schema1:
                raise
            raise CopyError(f"{exc}; {manifests.schema1_refused(job.src_name, job.dest.is_swr)}") from None

    # --- retries --------------------------------------------------------------------------------
    def retry(self, what: str, call):
        """call(), tried again after 1, 2, 4... × backoff while its failure is worth retrying."""
        for attempt in range(self.opt.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt >= self.opt.retries or not retryable(exc):
                    raise
                self.reporter.retry(what, describe(exc), attempt + 1, self.opt.retries)
                self._sleep(self.opt.backoff * 2 ** attempt)
        raise AssertionError("unreachable")  # pragma: no cover
