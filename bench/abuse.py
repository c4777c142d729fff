"""Abuse benchmark: 16 concurrent skopeo pushes through `swr-bridge serve` (defaults: 2 workers x 16
threads), once quiet and once while the endpoint is attacked, alternating, in the same run.

The attack (all from other loopback addresses than the pushes, 127.0.0.2-127.0.0.9):
  - 200 slow connections, held open all along (re-opened when the endpoint ends them): a third send
    one byte of a request head and stall, a third trickle a head one byte every 2 s, a third send an
    authenticated PATCH head for a 10 MB body and then 100 bytes of it;
  - 1,000 wrong logins (Basic on /v2/, /auth/token and /dockyard), 20 distinct wrong secrets;
  - 10,000 fuzzed requests: random and malformed methods, paths with `..`, NUL and odd characters,
    deeply nested JSON, bad media types, bad Content-Ranges, random headers, raw garbage.
/healthz is probed every 0.25 s with a 1 s timeout during both runs.

Prints the pushes' wall time quiet and attacked and their ratio (target <= 1.5), the slowest /healthz
answer (target < 1 s, none missed), the 5xx answers the endpoint logged (target 0), and the SWR logins
the wrong secrets caused against the bound of one per distinct secret per failure-cache period.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import os
import random
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

import requests
from common import median  # noqa: I001  (bench/ is run as a script; puts the repo on sys.path)

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests.images import build_image, push
from tests.integration.endpoint import Endpoint

ORG = "bench-abuse"
PUSHES, SLOW, WRONG, FUZZ = 16, 200, 1000, 10_000
FAIL_CACHE = 30  # the endpoint's credentials.failure_cache_seconds (its default)
ATTACKERS = [f"127.0.0.{i}" for i in range(2, 10)]
OCI = "application/vnd.oci.image.manifest.v1+json"


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def metric_sum(url: str, name: str, **labels) -> float:
    total = 0.0
    for line in requests.get(url + "/metrics", timeout=30).text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match and match.group(1) == name and all(f'{k}="{v}"' in match.group(2) for k, v in labels.items()):
            total += float(match.group(3))
    return total


class Probe(threading.Thread):
    """/healthz every 0.25 s with a 1 s timeout: the slowest answer and the misses."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop, self.slowest, self.missed, self.count = url, threading.Event(), 0.0, 0, 0

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                ok = requests.get(self.url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                ok = False
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.missed += not ok
            self.count += 1
            self.stop.wait(0.25)


FAILED_PUSHES: list[str] = []


def fresh_images(tmp: Path, label: str, count: int, layer_size: int) -> list:
    """`count` images of 3 random layers never pushed before. skopeo remembers where it pushed a blob (its
    blob-info cache) and mounts it from there next time: a batch pushed again would time mounts, not uploads."""
    return [build_image(tmp / "images" / f"{label}-{i}", "v1", layers=3, layer_size=layer_size) for i in range(count)]


def pushers(sbx, first: int = 0) -> list[tuple]:
    """(tenant, organization) for each of sbx.tenants[first:], each with an organization of its own. SWR
    takes at most 20 layers of a tenant at once (the endpoint holds the rest back, the sandbox refuses
    them): pushes are spread over tenants so that the batches measure what they did before."""
    found = []
    for k, tenant in enumerate(sbx.tenants[first:], first):
        sbx.create_organization(tenant, f"{ORG}{k}")
        found.append((tenant, f"{ORG}{k}"))
    return found


def push_all(images, ep, by: list[tuple], label: str, timeout: float = 300) -> float:
    """Pushes every image at once (to fresh repositories), push i as by[i mod len(by)] (tenant,
    organization); returns the batch's wall time. Failed pushes (skopeo given up on after `timeout`
    seconds) are kept in FAILED_PUSHES."""
    results = [None] * len(images)

    def run(i):
        tenant, org = by[i % len(by)]
        try:
            results[i] = push(images[i], f"127.0.0.1:{ep.port}/{org}/{label}-{i}:v1", f"{tenant.access_id}:{tenant.sk}",
                              timeout=timeout)
        except Exception as exc:  # subprocess.TimeoutExpired
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(images))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # A timeout's text would hold skopeo's command line, credentials included: only its kind is kept.
    FAILED_PUSHES.extend(f"{label}: {type(r).__name__} after {timeout:.0f}s" if isinstance(r, Exception) else
                         f"{label}: {r.stderr[-300:]}" for r in results if isinstance(r, Exception) or r.returncode)
    return elapsed


class Attack:
    """The three attacks in threads; `statuses` counts the answers the attackers got."""

    def __init__(self, ep, tenant, bearer: str):
        self.ep, self.tenant, self.bearer = ep, tenant, bearer
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.slow, daemon=True)]
        self.threads += [threading.Thread(target=self.wrong_logins, args=(k,), daemon=True) for k in range(4)]
        self.threads += [threading.Thread(target=self.fuzz, args=(k,), daemon=True) for k in range(4)]
        self.done_wrong = self.done_fuzz = 0

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def connect(self, k: int) -> socket.socket:
        sock = socket.socket()
        sock.bind((ATTACKERS[k % len(ATTACKERS)], 0))
        sock.connect(("127.0.0.1", self.ep.port))
        sock.setblocking(False)
        return sock

    # --- 200 slow connections ----------------------------------------------------------------------
    def slow(self):
        patch = (f"PATCH /v2/{ORG}/fuzz/blobs/uploads/x HTTP/1.1\r\nHost: a\r\nAuthorization: {self.bearer}\r\n"
                 "Content-Length: 10000000\r\n\r\n").encode() + b"x" * 100
        trickle = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"y" * 1000
        conns = [None] * SLOW  # (socket, kind, bytes sent)
        while not self.stop.is_set():
            for i in range(SLOW):
                sock, kind, sent = conns[i] or (None, i % 3, 0)
                try:
                    if sock is None:
                        sock, sent = self.connect(i), 0
                        sock.send(b"G" if kind == 0 else patch if kind == 2 else trickle[:1])
                    elif kind == 1 and sent < len(trickle) - 1 and int(time.monotonic()) % 2 == i % 2:
                        sent += 1
                        sock.send(trickle[sent:sent + 1])
                    if sock.recv(4096) == b"":  # ended by the endpoint: open another
                        sock.close()
                        sock = None
                except BlockingIOError:
                    pass
                except OSError:
                    sock.close() if sock else None
                    sock = None
                conns[i] = (sock, kind, sent) if sock else None
            self.stop.wait(0.5)
        for entry in conns:
            if entry:
                entry[0].close()

    # --- 1,000 wrong logins ------------------------------------------------------------------------
    def wrong_logins(self, k: int):
        paths = ["/v2/", "/auth/token?service=swr-bridge&scope=repository:x/y:pull", "/dockyard/v2/visible/namespaces"]
        for n in range(k, WRONG, 4):
            if self.stop.is_set():
                return
            secret = f"wrong-secret-{n % 20:02d}-0123456789abcdefghijklmn"
            self.request(ATTACKERS[(n // 20) % len(ATTACKERS)], "GET", paths[n % 3],
                         {"Authorization": basic(self.tenant.access_id, secret)})
            with self.lock:
                self.done_wrong += 1

    def request(self, source: str, method: str, path: str, headers: dict, body: bytes | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.ep.port, timeout=30, source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            self.count(resp.status)
        except (OSError, http.client.HTTPException):
            self.count(0)
        finally:
            conn.close()

    # --- 10,000 fuzzed requests --------------------------------------------------------------------
    def fuzz(self, k: int):
        rng = random.Random(k)
        for _ in range(k, FUZZ, 4):
            if self.stop.is_set():
                return
            raw = fuzzed(rng, self.bearer)
            try:
                sock = socket.create_connection(("127.0.0.1", self.ep.port), timeout=30,
                                                source_address=(ATTACKERS[rng.randrange(len(ATTACKERS))], 0))
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
                answer = sock.recv(64)
                sock.close()
                match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
                self.count(int(match.group(1)) if match else 0)
            except OSError:
                self.count(0)
            with self.lock:
                self.done_fuzz += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()

    def finish(self, timeout: float = 600):
        """Waits for the logins and fuzzing to be sent (at most `timeout` seconds), then ends it all."""
        deadline = time.monotonic() + timeout
        for t in self.threads[1:]:
            t.join(max(0.0, deadline - time.monotonic()))
        self.stop.set()
        for t in self.threads[1:]:
            t.join(60)
        self.threads[0].join(30)


def fuzzed(rng: random.Random, bearer: str) -> bytes:
    """One hostile request, as raw bytes."""
    word = lambda n: "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789._-", k=n))  # noqa: E731
    method = rng.choice(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", word(7).upper(),
                         "G\x00T", "PROPFIND"])
    repo = rng.choice([f"{ORG}/fuzz", f"{ORG}/..", "../../etc", word(5), f"{ORG}/fuzz%00x", "a//b", "A/B"])
    path = rng.choice([f"/v2/{repo}/manifests/{rng.choice(['..', 'v1', word(3), 'sha256:..', '%00'])}",
                       f"/v2/{repo}/blobs/{rng.choice(['..', 'sha256:' + 'a' * 64, word(10)])}",
                       f"/v2/{repo}/blobs/uploads/{word(40)}", f"/v2/{repo}/referrers/..", f"/v2/{repo}/tags/list",
                       "/dockyard/v2/namespaces", f"/api/v1/events?event_type={word(3)}%00",
                       f"/{word(12)}", "/metrics?" + word(20), "/v2/_catalog?n=-1&last=%00"])
    body = rng.choice([b"", b"[" * 20000 + b"]" * 20000, b'{"namespace":' * 5000 + b"1" + b"}" * 5000,
                       json.dumps({"mediaType": rng.choice([5, "x\r\ny", OCI, None])}).encode(),
                       os.urandom(rng.randrange(1, 2048))])
    headers = [f"Host: {rng.choice(['a', 'evil.example', '127.0.0.1'])}"]
    if rng.random() < 0.6:
        headers.append(f"Authorization: {bearer}")
    headers += rng.sample([f"Content-Type: {rng.choice([OCI, 'text/html', word(10)])}",
                           f"Content-Range: {rng.choice(['0-9', '99-1', 'bytes=5-', word(4)])}",
                           f"X-{word(6)}: {word(20)}", f"Transfer-Encoding: {rng.choice(['chunked', 'gzip'])}",
                           "Expect: 100-continue"], rng.randrange(0, 3))
    if rng.random() < 0.05:
        return os.urandom(rng.randrange(1, 300))
    return (f"{method} {path} HTTP/1.1\r\n" + "\r\n".join(headers) +
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("utf-8", "replace") + body


def server_5xx(ep) -> list[str]:
    """The endpoint's access lines with a 5xx status."""
    return [line for line in ep.log_text().splitlines()
            if line.startswith("{") and '"swr_bridge.access"' in line and json.loads(line).get("status", 0) >= 500]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="quiet/attacked pairs (alternating)")
    parser.add_argument("--layer-mib", type=int, default=2, help="size of each of an image's 3 layers")
    parser.add_argument("--worker", default="adapter.worker.BridgeWorker",
                        help="gunicorn worker class (gthread: the plain one, for comparison)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmpdir:
        tmp = Path(tmpdir)
        # SWR's limit of 20 requests/s per tenant off: 16 skopeo pushes on an idle machine pass it at once,
        # skopeo does not retry (Harbor does), and it is not what this measures.
        # 16 pushes of 3 layers by 4 tenants: 12 layers of a tenant at once, under SWR's 20.
        with Sandbox(tmp / "sbx", tenants=4, org_quota=10, strict=Strictness(push_rate=None)) as sbx:
            tenant = sbx.tenants[0]  # the attacks' tenant
            sbx.create_organization(tenant, ORG)
            env = {"SWR_BRIDGE_GUNICORN_LOGLEVEL": "warning", "SWR_BRIDGE_WORKER_CLASS": args.worker}
            with Endpoint(tmp, sbx, workers=2, env=env) as ep:
                run(ep, tenant, pushers(sbx), tmp, args.rounds, args.layer_mib)


def run(ep, tenant, by: list[tuple], tmp: Path, rounds: int, layer_mib: int) -> None:
    token = requests.get(f"{ep.url}/auth/token", params={"service": "swr-bridge",
                         "scope": f"repository:{ORG}/fuzz:pull,push"},
                         headers={"Authorization": basic(tenant.access_id, tenant.sk)}, timeout=30).json()["token"]
    quiet, attacked, probes, logins, attack_seconds = [], [], [], 0.0, 0.0
    statuses: dict[int, int] = {}
    for r in range(rounds):
        images = fresh_images(tmp, f"quiet{r}", PUSHES, layer_mib << 20)
        with_probe = Probe(ep.url)
        with_probe.start()
        quiet.append(push_all(images, ep, by, f"quiet{r}"))
        with_probe.stop.set()
        with_probe.join()
        images = fresh_images(tmp, f"attacked{r}", PUSHES, layer_mib << 20)
        before = metric_sum(ep.url, "swr_bridge_swr_logins_total", result="refused")
        probe = Probe(ep.url)
        probe.start()
        started = time.monotonic()
        with Attack(ep, tenant, f"Bearer {token}") as attack:
            time.sleep(2)  # the slow connections are in place, the guessing and fuzzing under way
            attacked.append(push_all(images, ep, by, f"attacked{r}"))
            pushes_done = (attack.done_wrong, attack.done_fuzz)
            attack.finish()
        attack_seconds += time.monotonic() - started
        probe.stop.set()
        probe.join()
        probes.append(probe)
        logins += metric_sum(ep.url, "swr_bridge_swr_logins_total", result="refused") - before
        for status, n in attack.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
        print(f"  round {r + 1}: quiet {quiet[-1]:.2f}s, attacked {attacked[-1]:.2f}s "
              f"(ratio {attacked[-1] / quiet[-1]:.2f}); during the pushes {pushes_done[0]} wrong logins and "
              f"{pushes_done[1]} fuzzed requests were sent; /healthz slowest {probe.slowest * 1000:.0f} ms, "
              f"missed {probe.missed} of {probe.count}", flush=True)
    q, a = median(quiet), median(attacked)
    periods = max(1, math.ceil(attack_seconds / rounds / FAIL_CACHE)) * rounds
    print(f"abuse: {PUSHES} concurrent pushes of 3 random layers of {layer_mib} MiB each; "
          f"attack per round: {SLOW} slow connections, {WRONG} wrong logins (20 distinct secrets), {FUZZ} fuzzed requests")
    print(f"  pushes: quiet {q:.2f}s, attacked {a:.2f}s (medians of {rounds}); slowdown {a / q:.2f} x (target <= 1.5)")
    print(f"  /healthz: slowest {max(p.slowest for p in probes) * 1000:.0f} ms, missed {sum(p.missed for p in probes)} "
          f"of {sum(p.count for p in probes)} (target: every answer within 1 s)")
    errors = server_5xx(ep)
    print(f"  5xx logged by the endpoint: {len(errors)} (target 0); attackers' answers by status: "
          + ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(statuses.items())))
    for line in errors[:5]:
        print(f"    {line}")
    print(f"  pushes failed: {len(FAILED_PUSHES)} of {PUSHES * 2 * rounds} (target 0)")
    for failure in FAILED_PUSHES[:3]:
        print(f"    {failure}")
    print(f"  SWR logins caused by wrong secrets: {logins:.0f} for 20 distinct secrets over {attack_seconds:.0f}s "
          f"(bound: 20 per {FAIL_CACHE}s failure-cache period = {20 * periods}); "
          f"refused without SWR: {metric_sum(ep.url, 'swr_bridge_login_refused_total'):.0f}")


if __name__ == "__main__":
    main()
    raise SystemExit(1 if FAILED_PUSHES else 0)
