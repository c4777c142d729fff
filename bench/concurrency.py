"""Concurrency benchmark: N concurrent skopeo pushes straight in, through nginx as a dumb relay, and
through the endpoint (its shipped defaults), interleaved in rounds in the same run.

Each push is a distinct image (default 64 MiB in 4 random layers; skopeo uploads the layers of one
image in parallel, so 16 pushes are up to 64 blob uploads at once, spread over 4 tenants as SWR's limit
of 20 layers of a tenant at once asks). A round runs the three modes one
after the other, in a rotating order; a mode's time is from the first push started to the last one
done. Reported: the median times, the ratios endpoint/nginx (target <= 1.03) and endpoint/direct, failed
pushes, and the growth of the endpoint's summed PSS (gunicorn master and workers) over its idle figure.
Also the CPU time of the relays and of the whole machine per round: these 2 cores are saturated by the
pushes, so the wall ratio follows the CPU all processes spend in a mode.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import PeakRss, machine_busy, median, mib, tree_cpu, tree_pss  # noqa: I001  (bench/ is run as a script)
from nginx import Nginx
from relay import forget_blob_locations

from adapter.gunicorn_conf import settings
from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests.images import build_big_image
from tests.integration.endpoint import Endpoint

ORG = "bench-conc"
MODES = ("direct", "nginx", "endpoint")
# SWR's checks on, its request rate off: skopeo (pushing, or the baseline) gives up on a 503.
UNPACED = Strictness(push_rate=None)
# SWR takes at most 20 layers of a tenant at once (and the sandbox refuses the 21st, on which skopeo gives
# up): the pushes are spread over tenants, round robin, 16 pushes of 4 layers -> 16 layers per tenant.
TENANTS = 4


def push_all(images, host: str, tag: str, creds: list[str]) -> tuple[float, int, str]:
    """Starts one skopeo push per image at once, push i as tenant i mod len(creds) into its organization;
    (seconds until the last is done, failures, last error)."""
    forget_blob_locations()
    exe = shutil.which("skopeo")
    if exe is None:
        raise SystemExit("skopeo not found on PATH (Debian package skopeo)")
    start = time.perf_counter()
    procs = [subprocess.Popen([exe, "copy", "--dest-tls-verify=false", "--preserve-digests", "--dest-creds",
                               creds[i % len(creds)], image.oci_ref,
                               f"docker://{host}/{ORG}{i % len(creds)}/{tag}-{i}:v1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i, image in enumerate(images)]
    errors = [proc.communicate(timeout=600)[1] for proc in procs]
    elapsed = time.perf_counter() - start
    failed = [err for proc, err in zip(procs, errors, strict=True) if proc.returncode != 0]
    return elapsed, len(failed), failed[-1][-500:] if failed else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pushes", type=int, default=16, help="concurrent pushes (distinct images)")
    parser.add_argument("--size-mib", type=int, default=64, help="size of each image")
    parser.add_argument("--layers", type=int, default=4, help="layers of each image")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three modes")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the sandbox API's line per request (and TLS probe)
    shipped = settings("127.0.0.1:0")  # the defaults as shipped, read from the code, not restated here
    with tempfile.TemporaryDirectory(prefix="bench-conc-") as tmp:
        tmp = Path(tmp)
        print(f"concurrency: building {args.pushes} images of {args.size_mib} MiB in {args.layers} layers ...",
              flush=True)
        images = [build_big_image(tmp / f"img{i}", "v1", size_mib=args.size_mib, layers=args.layers)
                  for i in range(args.pushes)]
        with Sandbox(tmp / "sbx", tenants=TENANTS, org_quota=10, strict=UNPACED) as sbx:
            for i, tenant in enumerate(sbx.tenants):
                sbx.create_organization(tenant, f"{ORG}{i}")
            registry = sbx.registry_url.removeprefix("http://")
            logins = [f"{t.access_id}:{t.login_key}" for t in sbx.tenants]
            with Nginx(registry) as relay, Endpoint(tmp, sbx, workers=shipped["workers"],
                                                    env={"SWR_BRIDGE_GUNICORN_LOGLEVEL": shipped["loglevel"]}) as ep:
                targets = {"direct": (registry, logins), "nginx": (f"127.0.0.1:{relay.port}", logins),
                           "endpoint": (f"127.0.0.1:{ep.port}", [f"{t.access_id}:{t.sk}" for t in sbx.tenants])}
                # Warm-up (not timed): the page cache holds the images, the endpoint has loaded its upload path.
                for mode, (host, creds) in targets.items():
                    push_all(images[:2], host, f"warm-{mode}", creds)
                time.sleep(1)
                idle = tree_pss(ep.proc.pid)
                times = {mode: [] for mode in MODES}
                failures, peak, cpu = 0, idle, {"endpoint": [], "nginx": []}
                busy = {mode: [] for mode in MODES}  # the machine's CPU seconds per round, every process
                procs = {"endpoint": ep.proc.pid, "nginx": relay.proc.pid}
                for n in range(args.rounds):
                    order = MODES[n % 3:] + MODES[:n % 3]
                    line = []
                    for mode in order:
                        host, creds = targets[mode]
                        with PeakRss(ep.proc.pid, interval=0.1) as mem:
                            before = {m: tree_cpu(pid) for m, pid in procs.items()}
                            busy_before = machine_busy()
                            elapsed, failed, last = push_all(images, host, f"r{n}-{mode}", creds)
                            busy[mode].append(machine_busy() - busy_before)
                        if mode in procs:
                            cpu[mode].append(tree_cpu(procs[mode]) - before[mode])
                        if mode == "endpoint":
                            peak = max(peak, mem.peak_pss)
                        times[mode].append(elapsed)
                        failures += failed
                        if failed:
                            print(f"  {mode}: {failed} pushes failed, last: {last}", flush=True)
                        line.append(f"{mode} {elapsed:.2f}s")
                    print(f"  round {n}: " + "  ".join(line) +
                          f"  endpoint/nginx {times['endpoint'][-1] / times['nginx'][-1]:.3f}", flush=True)
    d, x, e = (median(times[m]) for m in MODES)
    per_round = median([a / b for a, b in zip(times["endpoint"], times["nginx"], strict=True)])
    gib = args.pushes * args.size_mib / 1024
    print(f"concurrency: {args.pushes} concurrent pushes of {args.size_mib} MiB ({args.layers} layers each) by "
          f"{TENANTS} tenants, {args.rounds} rounds; endpoint {shipped['workers']} workers x {shipped['threads']} threads")
    print(f"concurrency: median direct {d:.2f}s, nginx {x:.2f}s, endpoint {e:.2f}s")
    print(f"concurrency: endpoint/nginx {e / x:.3f} (per-round median {per_round:.3f}; target <= 1.03), "
          f"endpoint/direct {e / d:.3f}, nginx/direct {x / d:.3f}")
    print(f"concurrency: failed pushes {failures} (target 0); CPU per GiB relayed: endpoint "
          f"{median(cpu['endpoint']) / gib:.2f} s, nginx {median(cpu['nginx']) / gib:.2f} s")
    # On a saturated machine the wall ratio follows the CPU every party spends, not the relay's alone.
    print(f"concurrency: machine CPU per round (all processes): direct {median(busy['direct']):.2f} s, "
          f"nginx {median(busy['nginx']):.2f} s, endpoint {median(busy['endpoint']):.2f} s "
          f"(endpoint/nginx {median(busy['endpoint']) / median(busy['nginx']):.3f})")
    print(f"concurrency: endpoint PSS idle {mib(idle)}, peak {mib(peak)}, growth {mib(peak - idle)} "
          f"(target <= 64 MiB)")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
