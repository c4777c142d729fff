"""Sync at 10,000 images: a `swr-bridge sync --dry-run` over a docker-registry holding 1,000 and then 10,000
tags (small manifests sharing one config and one layer, written straight into the registry's storage), into an
empty registry; wall time and the sync process's peak RSS at each size, and how the time grows."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)

from tests.registries import plain_registry
from tests.seed import Seeder

SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))
TAGS_PER_REPOSITORY = 100
RSS_LIMIT = 150 * 1024 * 1024


def seed(root: Path, repositories: int) -> float:
    """`repositories` x TAGS_PER_REPOSITORY tags on disk; the seconds it took."""
    start, seeder = time.perf_counter(), Seeder(root)
    for r in range(repositories):
        seeder.seed(f"fleet/svc{r:04d}", [f"1.{t}.0" for t in range(TAGS_PER_REPOSITORY)])
    return time.perf_counter() - start


def dry_run(source: str, dest: str, repositories: int, tmp: Path, proc: int) -> dict:
    """One dry run, every tag of each repository (one rule per repository); time, peak RSS and the counts."""
    images = tmp / f"images-{repositories}.json"
    images.write_text(json.dumps({f"{source}/fleet/svc{r:04d}": f"{dest}/fleet/svc{r:04d}" for r in range(repositories)}))
    report = tmp / f"report-{repositories}.json"
    start = time.perf_counter()
    with open(report, "w") as out:
        proc_ = subprocess.Popen([SWR_BRIDGE, "sync", "--images", str(images), "--dry-run", "-p", str(proc),
                                  "-o", "json"], stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc_.pid, 0)  # the rusage of this child alone: its peak RSS
        proc_.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    found = json.loads(report.read_text())
    return {"tags": repositories * TAGS_PER_REPOSITORY, "seconds": seconds, "rss": usage.ru_maxrss * 1024,
            "planned": found["planned"], "failed": found["failed"], "exit": proc_.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, nargs=2, default=[1000, 10000], help="the small and the large size")
    parser.add_argument("--proc", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}; tags per repository "
          f"{TAGS_PER_REPOSITORY}; sync --dry-run -p {args.proc}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-scale-"))
    runs = []
    for tags in args.tags:
        repositories = tags // TAGS_PER_REPOSITORY
        root = tmp / f"source-{tags}"
        seeded = seed(root / "data", repositories)
        with plain_registry(root) as source, plain_registry(tmp / f"dest-{tags}") as dest:
            result = dry_run(source.url.removeprefix("http://"), dest.url.removeprefix("http://"), repositories,
                             tmp, args.proc)
        runs.append(result)
        print(f"{result['tags']:6d} tags (seeded in {seeded:.1f}s): {result['seconds']:6.1f}s "
              f"({result['seconds'] * 1000 / result['tags']:.2f} ms/tag), peak RSS {result['rss'] / 2**20:.1f} MiB, "
              f"would copy {result['planned']}, failed {result['failed']}, exit {result['exit']}", flush=True)
    small, large = runs
    growth = large["seconds"] / small["seconds"]
    size = large["tags"] / small["tags"]
    complete = all(r["planned"] == r["tags"] and r["exit"] == 0 for r in runs)
    print(f"\ntime x{growth:.1f} for x{size:.0f} tags ({'at most linear: met' if growth <= size else 'MISSED'}); "
          f"peak RSS at {large['tags']} tags {large['rss'] / 2**20:.1f} MiB "
          f"({'< 150 MiB: met' if large['rss'] < RSS_LIMIT else 'MISSED'}); every tag planned: {complete}; "
          f"load average after: {os.getloadavg()[0]:.1f}")
    if not complete:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
