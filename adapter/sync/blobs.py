"""Blob transfers into destination repositories, in a pool of --proc threads.

Each blob travels once per (registry, repository, digest), however many images need it. While the
run moves a blob into one repository of a registry, a transfer of it into another waits for that
one (without holding a pool thread) and then mounts it from there; a blob the destination repository
has already is not sent again. Everything else streams from the source, hashed and metered.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from adapter.sync.errors import CopyError
from adapter.transfer.streams import SizedBodyStream


def failed(future: Future) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def _settle(future: Future, done: Future) -> None:
    """Passes a pool task's outcome on to the future that callers hold."""
    if done.cancelled():
        future.cancel()
    elif done.exception() is not None:
        future.set_exception(done.exception())
    else:
        future.set_result(done.result())


class _Exact:
    """Reads exactly `size` bytes: a source that ends early or runs long fails instead of leaving
    the destination waiting for the Content-Length it was promised."""

    def __init__(self, reader, size: int, what: str):
        self.reader, self.size, self.left, self.what = reader, size, size, what

    def read(self, amount: int) -> bytes:
        data = self.reader.read(min(amount, self.left + 1))
        self.left -= len(data)
        if self.left < 0 or (not data and self.left > 0):
            raise CopyError(f"{self.what}: the source sent {self.size - self.left} bytes, not {self.size}",
                            retryable=True)
        return data


def _size(desc: dict, reader, source: str) -> int:
    """The descriptor's size; schema 1 layers have none, so the source's Content-Length says it."""
    if "size" in desc:
        return int(desc["size"])
    length = getattr(reader, "length", None)
    if length is None:
        raise CopyError(f"blob {desc['digest'][:19]} of {source}: the source sent no Content-Length")
    return length


class Blobs:
    """`transfer(job, descriptor, result)` gives the blob's transfer as a Future; `retry(what, call)` is
    the engine's retry policy, `budget` the bandwidth budget (None: unlimited)."""

    def __init__(self, proc: int, retry, reporter, budget=None):
        self._pool = ThreadPoolExecutor(proc, thread_name_prefix="sync-blob")
        self._retry, self.reporter, self.budget = retry, reporter, budget
        self._inflight: dict[tuple[str, str, str], Future] = {}  # (host, repo, digest) -> its transfer
        self._leaders: dict[tuple[str, str], Future] = {}  # (host, digest) -> the first transfer of it
        self._located: dict[tuple[str, str], str] = {}  # (host, digest) -> a repository that has it
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def transfer(self, job, desc: dict, result) -> Future:
        """The blob's transfer into the destination repository, started once however many images need it.

        While this run moves the same blob into another repository of the registry, this transfer
        waits for that one (without holding a pool thread) and then mounts from it.
        """
        host, digest = job.dest.host, desc["digest"]
        key = (host, job.dst_repo, digest)
        with self._lock:
            future = self._inflight.get(key)
            if future is not None and not failed(future):
                return future
            future = self._inflight[key] = Future()
            leader = self._leaders.get((host, digest))
            if leader is None or failed(leader):
                leader = self._leaders[(host, digest)] = future
        start = functools.partial(self._start, future, job, desc, result)
        if leader is future:
            start()
        else:
            leader.add_done_callback(lambda _: start())
        return future

    def _start(self, future: Future, job, desc: dict, result) -> None:
        what = f"blob {desc['digest'][:19]} for {job.dst_name}"
        task = self._pool.submit(self._retry, what, lambda: self._move(job, desc, result))
        task.add_done_callback(lambda done: _settle(future, done))

    def _move(self, job, desc: dict, result) -> None:
        digest, repo, dest = desc["digest"], job.dst_repo, job.dest
        known = self._located.get((dest.host, digest))
        if known == repo:
            return self._count(result, dest, digest, repo, "existing")
        if known:  # mount first: a 201 means it is there now, whether or not it was before
            location = dest.start_upload(repo, digest, known)
            if location is None:
                return self._count(result, dest, digest, repo, "mounted")
        elif dest.has_blob(repo, digest):
            return self._count(result, dest, digest, repo, "existing")
        else:
            location = dest.start_upload(repo)
        reader = job.source.open_blob(job.src_repo, digest)
        try:
            size = _size(desc, reader, job.src_name)
            body = SizedBodyStream(_Exact(reader, size, f"blob {digest[:19]} of {job.src_name}"), size,
                                   algorithm=digest.split(":")[0], throttle=self._meter(repo))
            dest.upload(repo, location, body, digest)
        finally:
            reader.close()
        self._count(result, dest, digest, repo, "uploaded", body.count)

    def _count(self, result, dest, digest: str, repo: str, kind: str, size: int = 0) -> None:
        with self._lock:
            self._located[(dest.host, digest)] = repo
            result.blobs[kind] += 1
            result.bytes += size
        self.reporter.blob(kind)

    def _meter(self, repo: str):
        throttle = self.budget.meter(repo.split("/")[0]) if self.budget else None

        def tick(nbytes: int) -> None:
            self.reporter.add_bytes(nbytes)
            if throttle:
                throttle(nbytes)
        return tick
