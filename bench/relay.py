"""Relay benchmark: skopeo pushes a 1 GiB image straight to the sandbox registry vs through the endpoint
(and, with --compare-with, through another commit's endpoint in the same rounds)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, PeakRss, commit_of, median, mib, other_checkout  # noqa: I001  (bench/ is run as a script)

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests.images import build_big_image, push
from tests.integration.endpoint import Endpoint

ORG = "bench-relay"
# SWR's checks on, its request rate off: skopeo (pushing, or the baseline) gives up on a 503.
UNPACED = Strictness(push_rate=None)
SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))


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
    parser.add_argument("--runs", type=int, default=3, help="rounds; each pushes once per path, in turns")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--compare-with", metavar="DIR", type=Path,
                        help="another checkout (with `make venv` done): its endpoint runs beside this one's, "
                             "pushed to in the same rounds, so both ratios come from the same run")
    args = parser.parse_args()
    commands = {f"{commit_of(ROOT)} (this checkout)": SWR_BRIDGE}
    if args.compare_with:
        label, command = other_checkout(args.compare_with)
        commands[label] = command
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        print(f"relay: building a {args.size_mib} MiB image of {args.layers} random layers ...", flush=True)
        image = build_big_image(tmp / "img", "v1", size_mib=args.size_mib, layers=args.layers)
        single = build_big_image(tmp / "single", "one", size_mib=args.size_mib, layers=1)
        sbx = stack.enter_context(Sandbox(tmp / "sbx", org_quota=10, strict=UNPACED))
        tenant = sbx.tenants[0]
        sbx.create_organization(tenant, ORG)
        registry = sbx.registry_url.removeprefix("http://")
        endpoints = {label: stack.enter_context(Endpoint(tmp, sbx, command=command))
                     for label, command in commands.items()}
        run_ids = itertools.count()
        # Warm-up (not timed): the page cache holds the source layout for every path alike.
        timed_push(image, f"{registry}/{ORG}/warmup:v1", f"{tenant.access_id}:{tenant.login_key}")
        paths = ["direct", *endpoints]
        times = {path: [] for path in paths}
        peaks = {label: [] for label in endpoints}
        for n in range(args.runs):
            order = paths[n % len(paths):] + paths[:n % len(paths)]  # each path takes each turn in turn
            for path in order:
                run = next(run_ids)
                if path == "direct":
                    times[path].append(timed_push(image, f"{registry}/{ORG}/direct{run}:v1",
                                                  f"{tenant.access_id}:{tenant.login_key}"))
                    continue
                with PeakRss(endpoints[path].proc.pid) as rss:
                    times[path].append(timed_push(image, f"127.0.0.1:{endpoints[path].port}/{ORG}/relay{run}:v1",
                                                  f"{tenant.access_id}:{tenant.sk}"))
                peaks[path].append(rss)
            print(f"  round {n}: " + "  ".join(
                f"{path.split()[0]} {times[path][-1]:.2f}s" + (f" (peak RSS {mib(peaks[path][-1].peak)})"
                                                               if path in peaks else "") for path in order), flush=True)
        singles = {}
        for label, ep in endpoints.items():
            with PeakRss(ep.proc.pid) as rss:
                elapsed = timed_push(single, f"127.0.0.1:{ep.port}/{ORG}/single{next(run_ids)}:one",
                                     f"{tenant.access_id}:{tenant.sk}")
            singles[label] = (rss, elapsed)
    d = median(times["direct"])
    print(f"relay: direct median {d:.2f}s ({args.runs} pushes of {args.size_mib} MiB in {args.layers} layers)")
    for label in endpoints:
        r = median(times[label])
        per_round = median([e / t for e, t in zip(times[label], times["direct"], strict=True)])
        rss, elapsed = singles[label]
        print(f"relay: {label}: endpoint median {r:.2f}s, ratio {r / d:.3f} (target <= 1.12; median of the "
              f"rounds' ratios {per_round:.3f}); peak RSS (all gunicorn processes) "
              f"{mib(max(p.peak for p in peaks[label]))} over {args.layers} layers, {mib(rss.peak)} while one "
              f"{args.size_mib} MiB layer was pushed in {elapsed:.2f}s (target <= 120 MiB); peak PSS "
              f"{mib(max(p.peak_pss for p in peaks[label]))} and {mib(rss.peak_pss)}")
    print(f"relay: {os.getloadavg()[0]:.1f} load average at the end")


if __name__ == "__main__":
    main()
