"""`--shard INDEX/COUNT`: one worker's part of an images file, by a stable hash of each source repository,
and `sync report`, which merges the shards' reports (or success-images files) into one.

COUNT workers given the same file take disjoint parts whose union is the whole, with no coordination: the
part depends only on the source repository's name (SHA-256, not Python's per-process hash()).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from adapter.sync.errors import InputError

INDEX_ENV = "JOB_COMPLETION_INDEX"  # set by Kubernetes in each pod of an Indexed Job
COUNT_ENV = "SYNC_SHARD_COUNT"  # the Job's completions; Kubernetes does not pass that on by itself
_SHARD_RE = re.compile(r"^(\d{1,6})/(\d{1,6})$")
MAX_SHARDS = 100_000


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, source_name: str) -> bool:
        """Whether this shard takes the images of the source repository `source_name` (host/repository)."""
        digest = hashlib.sha256(source_name.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, where: str = "--shard") -> Shard:
    match = _SHARD_RE.match(text.strip())
    if not match:
        raise InputError(where, f"{text!r} is not INDEX/COUNT (e.g. 0/4)")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise InputError(where, f"COUNT must be 1 to {MAX_SHARDS}, not {count}")
    if index >= count:
        raise InputError(where, f"INDEX counts from 0 and must be below COUNT ({count}), not {index}")
    return Shard(index, count)


def shard_from(flag: str | None, environ=os.environ) -> Shard | None:
    """The shard from --shard, else from an Indexed Job's JOB_COMPLETION_INDEX and SYNC_SHARD_COUNT; None: all."""
    if flag:
        return parse_shard(flag)
    index, count = environ.get(INDEX_ENV), environ.get(COUNT_ENV)
    if index is None and count is None:
        return None
    if index is None or count is None:
        have, lack = (INDEX_ENV, COUNT_ENV) if count is None else (COUNT_ENV, INDEX_ENV)
        raise InputError(f"env {have}", f"is set but {lack} is not: set both (or --shard INDEX/COUNT), so that "
                                        "no worker copies the whole images file")
    return parse_shard(f"{index}/{count}", f"env {INDEX_ENV}/{COUNT_ENV}")


# --- sync report ----------------------------------------------------------------------------------------------
COUNTS = ("copied", "skipped", "failed", "planned")


def _as_report(doc, where: str) -> dict:
    """A shard's `-o json` report as it is, or a success-images file ({source: destination(s)}) as one."""
    if isinstance(doc, dict) and isinstance(doc.get("images"), list) and all(k in doc for k in COUNTS):
        _check_report(doc, where)
        return doc
    if isinstance(doc, dict) and all(isinstance(k, str) and _destinations(v) for k, v in doc.items()):
        images = [{"source": src, "destination": dst, "status": "done", "reason": "", "digest": "", "bytes": 0}
                  for src, dests in doc.items() for dst in ([dests] if isinstance(dests, str) else dests)]
        return {"dry_run": False, **dict.fromkeys(COUNTS, 0), "done": len(images), "bytes": 0,
                "blobs": {}, "seconds": 0, "images": images}
    raise InputError(where, "neither a `sync -o json` report nor an --output-success-images file")


def _destinations(value) -> bool:
    """Whether a success-images file's value is what sync writes there: a destination or a list of them."""
    return isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_report(doc: dict, where: str) -> None:
    """A report's fields of the types merge() adds up: a hand-edited or truncated one is named, not a traceback."""
    for key in (*COUNTS, "done", "bytes"):
        if not isinstance(doc.get(key, 0), int) or isinstance(doc.get(key, 0), bool):
            raise InputError(where, f"{key!r} is not a whole number")
    seconds = doc.get("seconds", 0)
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or not isinstance(doc.get("blobs") or {}, dict):
        raise InputError(where, "'seconds' is not a number or 'blobs' not a mapping")
    if not isinstance(doc.get("dry_run", False), bool):
        raise InputError(where, "'dry_run' is not true or false")
    if not all(isinstance(v, int) for v in (doc.get("blobs") or {}).values()):
        raise InputError(where, "'blobs' holds a count that is not a whole number")
    warnings = doc.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise InputError(where, "'warnings' is not a list of texts")
    fields = ("source", "destination", "status", "reason")
    if not all(isinstance(i, dict) and all(isinstance(i.get(f), str) for f in fields) for i in doc["images"]):
        raise InputError(where, f"an entry of 'images' lacks one of {', '.join(fields)}")


def merge(named_docs: list[tuple[str, object]]) -> dict:
    """One report from the shards': counts, bytes and blobs summed, seconds the slowest shard's (they run side
    by side), every image once; an image in two shards' files is listed under `overlap`."""
    merged = {"shards": len(named_docs), "dry_run": False, **dict.fromkeys(COUNTS, 0), "done": 0, "bytes": 0,
              "blobs": dict.fromkeys(("uploaded", "mounted", "existing"), 0), "seconds": 0.0, "overlap": [],
              "warnings": [], "images": []}
    seen: dict[tuple[str, str], str] = {}
    for where, doc in named_docs:
        report = _as_report(doc, where)
        merged["dry_run"] |= bool(report.get("dry_run"))
        for key in (*COUNTS, "done", "bytes"):
            merged[key] += int(report.get(key, 0))
        for key, value in (report.get("blobs") or {}).items():
            merged["blobs"][key] = merged["blobs"].get(key, 0) + int(value)
        merged["seconds"] = max(merged["seconds"], float(report.get("seconds", 0)))
        merged["warnings"] += [f"{where}: {text}" for text in report.get("warnings") or []]
        for image in report["images"]:
            pair = (image["source"], image["destination"])
            if pair in seen:
                merged["overlap"].append({"source": pair[0], "destination": pair[1], "files": [seen[pair], where]})
            seen[pair] = where
            merged["images"].append(image)
    merged["done"] += merged["copied"] + sum(1 for i in merged["images"]
                                             if i["status"] == "skipped" and i["reason"] == "up to date")
    return merged


def load_reports(paths: list[str]) -> list[tuple[str, object]]:
    """Each file's content (JSON or YAML, by its name); a directory stands for the *.json files in it."""
    from adapter.sync.files import read_document

    files = [str(f) for p in paths for f in (sorted(Path(p).glob("*.json")) if os.path.isdir(p) else [p])]
    if not files:
        raise InputError(", ".join(paths), "no *.json reports in it")
    return [(path, read_document(path, "report")) for path in files]
