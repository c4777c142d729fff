"""Progress while a sync runs, and the summary after it.

On a terminal one status line (images and bytes) is redrawn in place and only failures and retries
print lines of their own. Otherwise (a pipe, CI, `--log FILE`) every image gets a plain line.
"""

from __future__ import annotations

import json
import sys
import threading
import time

STATUS_WORDS = {"copied": "copied", "skipped": "skipped", "failed": "FAILED", "planned": "would copy"}


def human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"  # pragma: no cover


def line_for(result) -> str:
    word = STATUS_WORDS.get(result.status, result.status)
    detail = result.reason
    if result.status == "copied":
        blobs = result.blobs
        detail = (f"{result.digest[:19]}, {blobs['uploaded']} uploaded, {blobs['mounted']} mounted, "
                  f"{blobs['existing']} present, {human(result.bytes)}")
        if result.converted:
            detail = f"{result.reason} as {result.digest}; {detail}"
    return f"{word:<10} {result.source} -> {result.destination}" + (f"  ({detail})" if detail else "")


class Reporter:
    """Receives the engine's events; thread-safe. `log` gets every line, plain, when given."""

    def __init__(self, stream=None, log=None, tty: bool | None = None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.log = log
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.total = self.done = self.bytes = 0
        self.listing = False  # True while rules are still listing tags: the total may grow
        self.counts = {"copied": 0, "skipped": 0, "failed": 0, "planned": 0}
        self.blobs = {"uploaded": 0, "mounted": 0, "existing": 0}
        self.retries = 0
        self.warnings: list[str] = []  # also in the -o json report, where a CI job reads them
        self.started_at = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, rules: int) -> None:
        """Images start while later rules still list their tags: the total grows until listed()."""
        self.started_at, self.listing = time.monotonic(), True
        self.line(f"listing the tags of {rules} rule(s); each image starts as soon as its tags are listed")
        if self.tty:
            self._thread = threading.Thread(target=self._redraw_loop, name="sync-progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
            self.stream.write("\r\x1b[K" + self.status() + "\n")  # the last state stays on screen
            self.stream.flush()

    def planned(self, count: int) -> None:
        with self._lock:
            self.total += count

    def listed(self) -> None:
        with self._lock:
            self.listing = False
        self.line(f"{self.total} image(s) to check")

    # --- events ---------------------------------------------------------------------------------
    def started(self, job) -> None:
        """An image begins (nothing to show: the status line counts finished ones)."""

    def finished(self, result) -> None:
        with self._lock:
            self.done += 1
            self.counts[result.status] = self.counts.get(result.status, 0) + 1
        if not self.tty or result.status == "failed":
            self.line(line_for(result))
        elif self.log:
            self._log(line_for(result))

    def blob(self, kind: str) -> None:
        with self._lock:
            self.blobs[kind] += 1

    def add_bytes(self, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes

    def retry(self, what: str, reason: str, attempt: int, retries: int) -> None:
        with self._lock:
            self.retries += 1
        self.line(f"{'retry':<10} {what}: {reason} (retry {attempt} of {retries})")

    def final_pass(self, count: int) -> None:
        with self._lock:
            self.done -= count
            self.counts["failed"] -= count
        self.line(f"final pass over {count} failed image(s)")

    # --- output ---------------------------------------------------------------------------------
    def warn(self, text: str) -> None:
        with self._lock:
            self.warnings.append(text)
        self.line(f"warning: {text}")

    def line(self, text: str) -> None:
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[K" + text + "\n" + self.status() + "\r")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        self._log(text)

    def _log(self, text: str) -> None:
        if self.log:
            self.log.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + text + "\n")
            self.log.flush()

    def status(self) -> str:
        elapsed = max(time.monotonic() - self.started_at, 1e-6)
        c = self.counts
        return (f"[{self.done}/{self.total}{'+' if self.listing else ''}] copied {c['copied']}  skipped {c['skipped']}  failed {c['failed']}"
                f"  |  {human(self.bytes)}  {human(self.bytes / elapsed)}/s")

    def _redraw_loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self.stream.write("\r\x1b[K" + self.status() + "\r")
                self.stream.flush()


def summary(results, seconds: float, dry_run: bool = False, warnings: list[str] | None = None) -> dict:
    """The report: counts, bytes, blobs, the warnings and every image with its outcome (`-o json` prints this)."""
    counts = {k: sum(1 for r in results if r.status == k) for k in ("copied", "skipped", "failed", "planned")}
    blobs = {k: sum(r.blobs[k] for r in results) for k in ("uploaded", "mounted", "existing")}
    images = [{"source": r.source, "destination": r.destination, "status": r.status, "reason": r.reason,
               "digest": r.digest, "bytes": r.bytes, "converted": r.converted} for r in results]
    converted = [{"source": r.source, "destination": r.destination, "digest": r.digest, "attestations_dropped": r.dropped}
                 for r in results if r.converted]
    return {"dry_run": dry_run, **counts, "bytes": sum(r.bytes for r in results), "blobs": blobs,
            "seconds": round(seconds, 3), "converted": converted, "warnings": list(warnings or []), "images": images}


def to_json(report: dict) -> str:
    """The report as JSON, one image per line: greppable, and written by the C encoder (indent= would take the
    pure-Python one, a noticeable part of a no-op re-sync's CPU for thousands of images)."""
    head = json.dumps({k: v for k, v in report.items() if k != "images"}, indent=2)
    images = ",\n".join("    " + json.dumps(image) for image in report["images"])
    return head[:-2] + (',\n  "images": [\n' + images + "\n  ]\n}" if images else ',\n  "images": []\n}')


def render(report: dict) -> str:
    """The human summary: one line of counts, then each failure with its reason."""
    if report["dry_run"]:
        head = f"dry run: {report['planned']} would be copied, {report['skipped']} up to date or skipped"
    else:
        head = (f"copied {report['copied']}, skipped {report['skipped']}, failed {report['failed']} "
                f"({human(report['bytes'])}, blobs {report['blobs']['uploaded']} uploaded, "
                f"{report['blobs']['mounted']} mounted, {report['blobs']['existing']} present) "
                f"in {report['seconds']:.1f}s")
    lines = [head]
    for image in report["images"]:
        if image["status"] == "planned":
            lines.append(f"  would copy {image['source']} -> {image['destination']}")
        elif image["status"] == "failed":
            lines.append(f"  failed {image['source']} -> {image['destination']}: {image['reason']}")
    for image in report.get("converted", []):
        dropped = image["attestations_dropped"]
        lines.append(f"  converted {image['source']} -> {image['destination']}: Docker schema 2, new digest "
                     f"{image['digest']}" + (f" ({dropped} attestation manifest(s) left out)" if dropped else ""))
    return "\n".join(lines)
