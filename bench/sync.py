"""Sync benchmark: `swr-bridge sync` vs `skopeo sync` on the same many-to-many input, in the same run.

Two plain docker-registry sources hold 40 images x 3 tags of small random layers; everything goes
into the sandbox (token auth, like SWR), each source into two organizations. Each round syncs the
whole input once with skopeo (one `skopeo sync` per source and organization, organizations made
beforehand) and once with swr-bridge (one images file; organizations made by the sync), into fresh
organizations, and then once more onto the same destinations: a no-op re-sync. The alternation
pairs each measurement with its baseline, because these machines are noisy: the targets are judged on
the median of the rounds' ratios, and the ratio of the medians is printed beside it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from common import ROOT, commit_of, cpu_seconds, median, other_checkout  # noqa: I001  (bench/ is run as a script)

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests.images import build_image, push, skopeo
from tests.registries import plain_registry

SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))
TAGS = ("v1", "v2", "v3")
# SWR's checks on, its request rate off: skopeo (pushing, or the baseline) gives up on a 503.
UNPACED = Strictness(push_rate=None)


def populate(tmp: Path, registry: str, first: int, count: int, layer_size: int) -> list[str]:
    """Pushes `count` repositories of 3 tags (2 random layers each) into `registry`; returns the names."""
    def one(i: int) -> str:
        repo = f"team/app{i:02d}"
        for tag in TAGS:
            image = build_image(tmp / f"img{i}-{tag}", tag, layers=2, layer_size=layer_size)
            result = push(image, f"{registry}/{repo}:{tag}")
            if result.returncode != 0:
                raise SystemExit(f"setup push failed: {result.stderr[-2000:]}")
        return repo

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(first, first + count)))


def run_skopeo(sources: dict[str, list[str]], targets: list[tuple[str, str]], dest: str, creds: str,
               tmp: Path) -> float:
    """One `skopeo sync` per (source registry, organization); the summed wall time."""
    total = 0.0
    for host, org in targets:
        spec = {host: {"tls-verify": False, "images": {repo: [] for repo in sources[host]}}}
        path = tmp / f"skopeo-{org}.yaml"
        path.write_text(yaml.safe_dump(spec))
        start = time.perf_counter()
        result = skopeo("sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false",
                        "--dest-creds", creds, "--preserve-digests", "--all", str(path), f"{dest}/{org}",
                        timeout=3600)
        total += time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"skopeo sync failed: {result.stderr[-2000:]}")
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@functools.cache
def unpaced(command: str) -> list[str]:
    """--max-rps 0: the sandbox's request rate is off, and skopeo sync, the baseline, paces nothing either
    (a commit from before --max-rps paces nothing anyway)."""
    help_text = subprocess.run([command, "sync", "--help"], capture_output=True, text=True).stdout
    return ["--max-rps", "0"] if "--max-rps" in help_text else []


def run_ours(sources: dict[str, list[str]], targets: list[tuple[str, str]], dest: str, auth: Path, tmp: Path,
             proc: int, expect_copied: int | None, cpu: list[float] | None = None, command: str = SWR_BRIDGE) -> float:
    """The wall time of one `swr-bridge sync` run (`command`: this checkout's or another's); its CPU time
    (user + system) is appended to `cpu`."""
    rules: dict[str, list[str]] = {}
    for host, org in targets:
        for repo in sources[host]:
            rules.setdefault(f"{host}/{repo}", []).append(f"{dest}/{org}/{repo.rsplit('/', 1)[-1]}")
    images = tmp / f"images-{targets[0][1]}.yaml"
    images.write_text(yaml.safe_dump(rules))
    start, cpu_start = time.perf_counter(), _children_cpu()
    result = subprocess.run([command, "sync", "--auth", str(auth), "--images", str(images), "--proc", str(proc),
                             *unpaced(command), "-o", "json"], capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(_children_cpu() - cpu_start)
    if result.returncode != 0:
        raise SystemExit(f"swr-bridge sync failed ({result.returncode}): {result.stdout[-2000:]}{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    if expect_copied is not None and report["copied"] != expect_copied:
        raise SystemExit(f"swr-bridge sync copied {report['copied']}, expected {expect_copied}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=40, help="repositories (3 tags each)")
    parser.add_argument("--layer-size", type=int, default=16 * 1024, help="bytes of random data per layer")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    parser.add_argument("--proc", type=int, default=8, help="swr-bridge sync --proc")
    parser.add_argument("--compare-with", metavar="DIR", type=Path,
                        help="another checkout (with `make venv` done): its swr-bridge sync runs the same rounds "
                             "(first sync and no-op), taking turns with this checkout's")
    args = parser.parse_args()
    other_label, other_command = other_checkout(args.compare_with) if args.compare_with else (None, None)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        tmp = Path(tmp)
        with plain_registry(tmp / "src-a") as reg_a, plain_registry(tmp / "src-b") as reg_b, \
                Sandbox(tmp / "sbx", org_quota=100, strict=UNPACED) as sbx:
            host_a, host_b = (r.url.removeprefix("http://") for r in (reg_a, reg_b))
            half = args.images // 2
            print(f"sync: pushing {args.images} images x {len(TAGS)} tags into two source registries ...",
                  flush=True)
            sources = {host_a: populate(tmp, host_a, 0, half, args.layer_size),
                       host_b: populate(tmp, host_b, half, args.images - half, args.layer_size)}
            tenant = sbx.tenants[0]
            dest = sbx.registry_url.removeprefix("http://")
            auth = tmp / "auth.json"
            auth.write_text(json.dumps({dest: {"access_key": tenant.ak, "secret_key": tenant.sk,
                                               "project": tenant.project, "api": sbx.api_url}}))
            copies = 2 * args.images * len(TAGS)
            theirs, ours, noops, noop_cpu, registries_cpu = [], [], [], [], []
            other = {"first": [], "noop": [], "cpu": []}  # the --compare-with checkout's, in the same rounds
            registry_pids = [reg_a.proc.pid, reg_b.proc.pid, sbx.registry_pid]
            for n in range(args.rounds):
                targets = [(host_a, f"sk{n}-a1"), (host_a, f"sk{n}-a2"), (host_b, f"sk{n}-b1"), (host_b, f"sk{n}-b2")]
                for _, org in targets:
                    sbx.create_organization(tenant, org)
                theirs.append(run_skopeo(sources, targets, dest, f"{tenant.access_id}:{tenant.login_key}", tmp))
                # With --compare-with, this checkout and the other take turns at going first.
                for which in (["this", "other"] if n % 2 == 0 else ["other", "this"]) if other_command else ["this"]:
                    prefix = "sb" if which == "this" else "so"
                    targets = [(host_a, f"{prefix}{n}-a1"), (host_a, f"{prefix}{n}-a2"),
                               (host_b, f"{prefix}{n}-b1"), (host_b, f"{prefix}{n}-b2")]
                    if which == "other":
                        other["first"].append(run_ours(sources, targets, dest, auth, tmp, args.proc, copies,
                                                       command=other_command))
                        other["noop"].append(run_ours(sources, targets, dest, auth, tmp, args.proc, 0, other["cpu"],
                                                      command=other_command))
                        continue
                    ours.append(run_ours(sources, targets, dest, auth, tmp, args.proc, copies))
                    before = cpu_seconds(registry_pids)
                    noops.append(run_ours(sources, targets, dest, auth, tmp, args.proc, 0, noop_cpu))
                    registries_cpu.append(cpu_seconds(registry_pids) - before)
                print(f"  round {n}: skopeo sync {theirs[-1]:.2f}s  swr-bridge sync {ours[-1]:.2f}s "
                      f"({copies} image copies each), then a no-op re-sync {noops[-1]:.2f}s"
                      + (f"; {other_label}: {other['first'][-1]:.2f}s, no-op {other['noop'][-1]:.2f}s"
                         if other_command else ""), flush=True)
    s, o, z = median(theirs), median(ours), median(noops)
    # Each round pairs a first sync with its own no-op (and with skopeo) seconds apart, so the median of
    # the per-round ratios cancels the machine's drift between rounds; the ratio of medians does not.
    speedups = [a / b for a, b in zip(theirs, ours, strict=True)]
    shares = [100 * a / b for a, b in zip(noops, ours, strict=True)]
    print(f"sync: skopeo sync median {s:.2f}s, swr-bridge sync median {o:.2f}s; swr-bridge is {median(speedups):.2f}x "
          f"faster, median of the rounds' ratios (target >= 2x; ratio of the medians {s / o:.2f}x); "
          f"{os.cpu_count()} cores, --proc {args.proc}, {args.layer_size // 1024} KiB layers")
    print(f"sync: no-op re-sync median {z:.2f}s; it took {median(shares):.1f}% of its round's first sync, median of "
          f"the rounds (target <= 10%; ratio of the medians {100 * z / o:.1f}%); "
          f"per round {', '.join(f'{x:.1f}%' for x in shares)}")
    # Wall times move with whatever else the machine runs; the sync process's own CPU time much less.
    print(f"sync: no-op re-sync CPU time of the swr-bridge process (user + system) median {median(noop_cpu):.2f}s, "
          f"per round {', '.join(f'{c:.2f}s' for c in noop_cpu)}; {os.getloadavg()[0]:.1f} load average at the end")
    # On two shared cores the registries' own work is part of every wall time above.
    print(f"sync: meanwhile the three docker-registry processes used median {median(registries_cpu):.2f}s of CPU, "
          f"per round {', '.join(f'{c:.2f}s' for c in registries_cpu)}")
    if other_command:
        compare(commit_of(ROOT), (ours, noops, noop_cpu), other_label, other)


def compare(here: str, mine: tuple[list, list, list], label: str, other: dict) -> None:
    """This checkout's figures beside the other's from the same rounds, and the per-round ratios."""
    for name, (first, noop, cpu) in ((f"{here} (this checkout)", mine),
                                     (label, (other["first"], other["noop"], other["cpu"]))):
        shares = [100 * z / o for z, o in zip(noop, first, strict=True)]
        print(f"sync: {name}: first sync median {median(first):.2f}s, no-op re-sync median {median(noop):.2f}s "
              f"({median(shares):.1f}% of its round's first sync), no-op CPU median {median(cpu):.2f}s "
              f"(per round {', '.join(f'{c:.2f}s' for c in cpu)})")
    ratio = [a / b for a, b in zip(mine[0], other["first"], strict=True)]
    cpu_ratio = [a / b for a, b in zip(mine[2], other["cpu"], strict=True)]
    print(f"sync: this checkout / {label.split()[0]}, median of the rounds' ratios: first sync {median(ratio):.3f}, "
          f"no-op CPU {median(cpu_ratio):.3f} (1.0: the same; no-op CPU target <= 1.10)")


if __name__ == "__main__":
    main()
