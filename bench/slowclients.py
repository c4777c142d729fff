"""Slow-client benchmark: one attack against three ways of serving the endpoint, each against its own quiet run.

Modes (2 worker processes each, the endpoint's defaults otherwise):
  bridge         `swr-bridge serve` as shipped: gunicorn with adapter.worker.BridgeWorker (its 40 threads)
  nginx+gthread  plain gunicorn gthread (as many threads) behind Debian nginx as a streaming proxy
                 (proxy_request_buffering off, client_header_timeout 10s, client_body_timeout 60s)
  gevent         gunicorn's gevent worker on the same, unmodified Flask app (the optional `bench` extra)

Per mode: PUSHES concurrent skopeo pushes quiet (the median of QUIET_BATCHES batches), then once while
K connections stall in their head (a head begun, one more byte every 2 s) and K authenticated PATCHes
(each of an upload of its own) stall after 70 KiB of a 10 MB body; connections the server ends are
opened again. /healthz is probed every 0.25 s with a 1 s timeout, for the pushes and at least
ATTACK_SECONDS. A push batch is given up on after CAP seconds. The sandbox's SWR request limit (20/s
per tenant) is off: it would fail pushes of any mode, and it is not what is measured. SWR's limit of 20
layers of a tenant at once is on: the stalled bodies are one tenant's, the pushes two others'.

Prints per mode: slowest /healthz and misses, the pushes quiet and attacked and their ratio, failed
pushes, 5xx the endpoint logged, how many stalled connections the server ended, and the quiet push time
relative to `bridge` (what each mechanism costs when nobody attacks).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import tempfile
import threading
import time
from pathlib import Path

import requests
from abuse import ATTACKERS, FAILED_PUSHES, ORG, Probe, basic, fresh_images, push_all, pushers, server_5xx  # noqa: I001
from common import median
from nginx import Nginx

from adapter.gunicorn_conf import worker_threads
from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests.integration.endpoint import Endpoint

PUSHES, LAYER = 8, 4 << 20
QUIET_BATCHES = 3  # the quiet figure is their median: it is also what each mechanism costs
CAP = 90.0  # seconds a push batch may take; nginx's client_body_timeout alone is 60 s
ATTACK_SECONDS = 15.0  # the attack lasts at least this long: past the 10 s head deadlines
STALL_AFTER = 70 << 10
NGINX_LIMITS = "client_header_timeout 10s; client_body_timeout 60s;"
MODES = ("bridge", "nginx+gthread", "gevent")


class Stallers(threading.Thread):
    """K head stallers and K body stallers, kept open; `ended` counts the ones the server closed."""

    def __init__(self, host_port: tuple[str, int], k: int, uploads: list[str], bearer: str):
        super().__init__(daemon=True)
        self.addr, self.k, self.uploads, self.bearer = host_port, k, uploads, bearer
        self.stop = threading.Event()
        self.ended = {"head": 0, "body": 0}

    def open(self, kind: str, i: int) -> socket.socket:
        sock = socket.socket()
        sock.bind((ATTACKERS[i % len(ATTACKERS)], 0))
        sock.connect(self.addr)
        if kind == "head":
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        else:
            sock.sendall(f"PATCH {self.uploads[i]} HTTP/1.1\r\nHost: a\r\nAuthorization: {self.bearer}\r\n"
                         "Content-Length: 10000000\r\n\r\n".encode() + b"s" * STALL_AFTER)
        sock.setblocking(False)
        return sock

    def run(self):
        conns = {(kind, i): None for kind in ("head", "body") for i in range(self.k)}
        tick = 0
        while not self.stop.is_set():
            for (kind, i), sock in conns.items():
                try:
                    if sock is None:
                        conns[kind, i] = self.open(kind, i)
                    elif kind == "head" and tick % 20 == i % 20:
                        sock.send(b"y")  # one byte of the head every 2 s
                    if sock is not None and sock.recv(4096) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    if sock is not None:
                        self.ended[kind] += 1
                        sock.close()
                    conns[kind, i] = None
            tick += 1
            self.stop.wait(0.1)
        for sock in conns.values():
            if sock is not None:
                sock.close()


@contextlib.contextmanager
def serving(mode: str, tmp: Path, sbx):
    """The endpoint in `mode`; yields (endpoint, the port clients use)."""
    env = {"SWR_BRIDGE_GUNICORN_LOGLEVEL": "warning"}
    if mode == "bridge":
        with Endpoint(tmp, sbx, workers=2, env=env) as ep:
            yield ep, ep.port
    elif mode == "gevent":
        with Endpoint(tmp, sbx, workers=2, env=dict(env, SWR_BRIDGE_WORKER_CLASS="gevent")) as ep:
            yield ep, ep.port
    else:
        relay = Nginx("", extra=NGINX_LIMITS)  # its port first: the endpoint's public_url names it
        with Endpoint(tmp, sbx, workers=2, env=dict(env, SWR_BRIDGE_WORKER_CLASS="gthread"),
                      extra={"public_url": f"http://127.0.0.1:{relay.port}"}) as ep:
            relay.upstream = f"127.0.0.1:{ep.port}"
            with relay:
                yield ep, relay.port


def bearer(url: str, tenant, repo: str) -> str:
    resp = requests.get(f"{url}/auth/token", params={"service": "swr-bridge", "scope": f"repository:{repo}:pull,push"},
                        headers={"Authorization": basic(tenant.access_id, tenant.sk)}, timeout=30)
    return "Bearer " + resp.json()["token"]


def uploads(url: str, auth: str, repo: str, k: int) -> list[str]:
    """k upload sessions, as paths."""
    paths = []
    for _ in range(k):
        resp = requests.post(f"{url}/v2/{repo}/blobs/uploads/", headers={"Authorization": auth}, timeout=30)
        assert resp.status_code == 202, resp.text
        paths.append("/v2/" + resp.headers["Location"].split("/v2/", 1)[1])
    return paths


def measure(mode: str, tmp: Path, sbx, k: int, by: list[tuple]) -> dict:
    label = mode.replace("+", "-")  # a repository name
    batches = {name: fresh_images(tmp, f"{label}-{name}", n, LAYER) for name, n in
               [("warm", 1), ("attacked", PUSHES)] + [(f"quiet{r}", PUSHES) for r in range(QUIET_BATCHES)]}
    with serving(mode, tmp / mode, sbx) as (ep, port):
        front = type("Front", (), {"port": port})
        url = f"http://127.0.0.1:{port}"
        push_all(batches["warm"], front, by, f"{label}-warm", timeout=CAP)  # first logins, imports
        failed_before = len(FAILED_PUSHES)
        quiet = median([push_all(batches[f"quiet{r}"], front, by, f"{label}-quiet{r}", timeout=CAP)
                        for r in range(QUIET_BATCHES)])
        repo = f"{ORG}/stall"
        auth = bearer(url, sbx.tenants[0], repo)
        stallers = Stallers(("127.0.0.1", port), k, uploads(url, auth, repo, k), auth)
        probe = Probe(url)
        stallers.start()
        time.sleep(2)  # every staller in place
        probe.start()
        started = time.monotonic()
        attacked = push_all(batches["attacked"], front, by, f"{label}-attacked", timeout=CAP)
        time.sleep(max(0.0, started + ATTACK_SECONDS - time.monotonic()))  # past the head deadlines
        probe.stop.set()
        stallers.stop.set()
        probe.join()
        stallers.join()
        return {"mode": mode, "quiet": quiet, "attacked": attacked, "healthz": probe.slowest,
                "missed": probe.missed, "probes": probe.count, "failed": len(FAILED_PUSHES) - failed_before,
                "5xx": len(server_5xx(ep)), "ended": dict(stallers.ended)}


def report(results: list[dict], k: int) -> None:
    print(f"slowclients: {PUSHES} concurrent pushes of 3 x {LAYER >> 20} MiB layers (quiet: median of "
          f"{QUIET_BATCHES} batches); attack: {k} head stallers "
          f"+ {k} authenticated bodies stalled after {STALL_AFTER >> 10} KiB; push batches capped at {CAP:.0f}s")
    ours = next((r["quiet"] for r in results if r["mode"] == "bridge"), None)
    print(f"  {'mode':<14} {'healthz max':>11} {'missed':>8} {'quiet':>7} {'attacked':>9} {'ratio':>6} "
          f"{'failed':>6} {'5xx':>4} {'ended head/body':>15} {'quiet vs bridge':>15}")
    for r in results:
        vs = f"{r['quiet'] / ours:.2f} x" if ours else "-"
        print(f"  {r['mode']:<14} {r['healthz'] * 1000:>9.0f}ms {r['missed']:>3} of {r['probes']:<3} "
              f"{r['quiet']:>6.1f}s {r['attacked']:>8.1f}s {r['attacked'] / r['quiet']:>5.2f}x "
              f"{r['failed']:>3} of {PUSHES:<2}{r['5xx']:>3} {r['ended']['head']:>7}/{r['ended']['body']:<7} {vs:>15}")
    for failure in FAILED_PUSHES[:3]:
        print(f"    {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # More stalled bodies than the 2 workers' threads: fewer, and plain threads absorb them without any mechanism.
    parser.add_argument("-k", type=int, default=2 * worker_threads() + 20,
                        help="head stallers, and as many stalled bodies (default: the threads of 2 workers + 20)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-slowclients-") as tmpdir:
        tmp = Path(tmpdir)
        with Sandbox(tmp / "sbx", tenants=3, org_quota=10, strict=Strictness(push_rate=None)) as sbx:
            sbx.create_organization(sbx.tenants[0], ORG)
            # The stalled bodies are tenant 0's (stalled, they hold its SWR upload seats); the pushes are the
            # other two tenants', 12 layers of each at once, under SWR's 20.
            by = pushers(sbx, first=1)
            results = []
            for mode in args.modes.split(","):
                (tmp / mode).mkdir()
                results.append(measure(mode, tmp, sbx, args.k, by))
                print(f"  {mode}: done", flush=True)
            report(results, args.k)


if __name__ == "__main__":
    main()
