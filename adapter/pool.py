"""A worker's threads: calls queued to threads started as needed, without a Future per request.

gthread hands every request to a concurrent.futures.ThreadPoolExecutor, and a Future with its
Condition and RLock, built and torn down per request, was a twentieth of the endpoint's CPU under
concurrent pushes. This pool does what gthread asks of an executor (run a call on a free thread,
tell the event loop when it is done, stop) with one queue and one lock.
"""

from __future__ import annotations

import queue
import threading


class Call:
    """One queued call and, once run, its outcome: what gthread's finish_request reads of a future."""

    __slots__ = ("fn", "args", "done", "value", "error")

    def __init__(self, fn, args, done):
        self.fn, self.args, self.done = fn, args, done
        self.value = self.error = None

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to finish_request, as a future would
            self.error = exc
        self.done(self)

    def cancelled(self) -> bool:
        return False  # a queued call always runs (shutdown(cancel_futures) is not offered)

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class Pool:
    """At most `size` threads; a call waits in the queue while all of them are busy."""

    def __init__(self, size: int, name: str = "swr-bridge"):
        self.size, self.name = size, name
        self._calls: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = self._idle = 0
        self._stopped = False

    def submit(self, fn, *args, done) -> Call:
        """Runs fn(*args) on a pool thread, then done(call) on that thread."""
        call = Call(fn, args, done)
        with self._lock:
            if self._stopped:
                raise RuntimeError("the pool is shut down")
            if self._idle:
                self._idle -= 1  # that thread takes this call (or one queued before it)
                start = False
            else:
                start = self._started < self.size
                self._started += start
        self._calls.put(call)
        if start:
            threading.Thread(target=self._serve, name=f"{self.name}-{self._started}", daemon=True).start()
        return call

    def _serve(self) -> None:
        calls = self._calls
        while True:
            call = calls.get()
            if call is None:
                calls.put(None)  # every thread sees the stop
                return
            call.run()
            del call  # the request's objects go now, not when the next call arrives
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True) -> None:
        """No new calls; threads end once the calls queued so far are done. `wait` is accepted for
        gthread's sake and ignored: its callers (worker exit) never wait."""
        with self._lock:
            self._stopped = True
        self._calls.put(None)
