"""Relay benchmark: skopeo pushes a 1 GiB image straight to the sandbox registry vs through the endpoint."""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from common import PeakRss, median, mib  # noqa: I001  (bench/ is run as a script)

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests.images import build_big_image, push
from tests.integration.endpoint import Endpoint

ORG = "bench-relay"
# SWR's checks on, its request rate off: skopeo (pushing, or the baseline) gives up on a 503.
UNPACED = Strictness(push_rate=None)


BLOB_CACHES = [Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
               Path.home() / ".local/share/containers/cache/blob-info-cache-v1.boltdb"]


def forget_blob_locations() -> None:
    """skopeo remembers where blobs were pushed and would mount them instead of uploading."""
    for path in BLOB_CACHES:
        path.unlink(missing_ok=True)


def timed_push(image, dest: str, creds: str) -> float:
    forget_blob_locations()
    start = time.perf_counter()
    result = push(image, dest, creds)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"push to {dest} failed: {result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="pushes per path (alternating)")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        tmp = Path(tmp)
        print(f"relay: building a {args.size_mib} MiB image of {args.layers} random layers ...", flush=True)
        image = build_big_image(tmp / "img", "v1", size_mib=args.size_mib, layers=args.layers)
        single = build_big_image(tmp / "single", "one", size_mib=args.size_mib, layers=1)
        with Sandbox(tmp / "sbx", org_quota=10, strict=UNPACED) as sbx:
            tenant = sbx.tenants[0]
            sbx.create_organization(tenant, ORG)
            registry = sbx.registry_url.removeprefix("http://")
            with Endpoint(tmp, sbx) as ep:
                run_ids = itertools.count()
                # Warm-up (not timed): the page cache holds the source layout for both paths alike.
                timed_push(image, f"{registry}/{ORG}/warmup:v1", f"{tenant.access_id}:{tenant.login_key}")
                direct, relayed, peaks = [], [], []
                for _ in range(args.runs):
                    n = next(run_ids)
                    direct.append(timed_push(image, f"{registry}/{ORG}/direct{n}:v1",
                                             f"{tenant.access_id}:{tenant.login_key}"))
                    with PeakRss(ep.proc.pid) as rss:
                        relayed.append(timed_push(image, f"127.0.0.1:{ep.port}/{ORG}/relay{n}:v1",
                                                  f"{tenant.access_id}:{tenant.sk}"))
                    peaks.append(rss.peak)
                    print(f"  run {n}: direct {direct[-1]:.2f}s  endpoint {relayed[-1]:.2f}s  "
                          f"endpoint peak RSS {mib(rss.peak)}", flush=True)
                with PeakRss(ep.proc.pid) as rss_single:
                    single_time = timed_push(single, f"127.0.0.1:{ep.port}/{ORG}/single:one",
                                             f"{tenant.access_id}:{tenant.sk}")
    d, r = median(direct), median(relayed)
    print(f"relay: direct median {d:.2f}s, endpoint median {r:.2f}s, ratio {r / d:.3f} (target <= 1.12)")
    print(f"relay: endpoint peak RSS (all gunicorn processes) {mib(max(peaks))} over {args.layers} layers; "
          f"{mib(rss_single.peak)} while one {args.size_mib} MiB layer was pushed in {single_time:.2f}s "
          f"(target <= 120 MiB)")


if __name__ == "__main__":
    main()
