"""gunicorn settings used by `swr-bridge serve`: threaded workers sized for multi-GB layer uploads."""

from __future__ import annotations

import os


def child_exit(server, worker) -> None:
    """gunicorn hook (in the master): drops the exited worker's files from PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# The numeric tuning variables and the range each may take. settings() reads some in the master, and
# adapter.worker the others in every worker, where a bad one was a traceback at every spawn: serve checks first.
NUMERIC_ENV = {
    "SWR_BRIDGE_WORKERS": (1, 64), "SWR_BRIDGE_THREADS": (1, 10_000), "SWR_BRIDGE_WORKER_TIMEOUT": (0, 86_400),
    "SWR_BRIDGE_GRACEFUL_TIMEOUT": (0, 86_400), "SWR_BRIDGE_PARKED_BODIES": (0, 1_000_000),
    "SWR_BRIDGE_HEADER_TIMEOUT": (0.001, 86_400), "SWR_BRIDGE_MIN_BODY_RATE": (0, 1e12),
    "SWR_BRIDGE_BODY_RATE_WINDOW": (0.001, 86_400),
}
WHOLE_ENV = {"SWR_BRIDGE_WORKERS", "SWR_BRIDGE_THREADS", "SWR_BRIDGE_WORKER_TIMEOUT", "SWR_BRIDGE_GRACEFUL_TIMEOUT"}


def env_problems(environ=os.environ) -> list[str]:
    """What is wrong with the tuning variables that are set, each naming its variable (nothing: [])."""
    problems = []
    for name, (low, high) in NUMERIC_ENV.items():
        text = environ.get(name)
        if not text:
            continue
        try:
            value = int(text) if name in WHOLE_ENV else float(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:  # NaN is in no range
            kind = "a whole number" if name in WHOLE_ENV else "a number"
            problems.append(f"env {name}: expected {kind} from {low:g} to {high:g}, got {text[:40]!r}")
    metrics = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics and os.path.exists(metrics) and not os.path.isdir(metrics):
        problems.append(f"env PROMETHEUS_MULTIPROC_DIR: {metrics[:200]!r} is not a directory")
    return problems


def worker_threads() -> int:
    """Threads per worker (env SWR_BRIDGE_THREADS); the upstream connection pool is sized from it too.

    Sized for 32 concurrent blob uploads per replica: the kernel, not gunicorn, decides which worker
    accepts a connection (32 held uploads were seen split 8/24 over two workers), so each worker has a
    thread for all 32 and 8 more for /healthz, /metrics and the API. An idle thread costs nothing."""
    return int(os.environ.get("SWR_BRIDGE_THREADS") or "40")


def settings(listen: str) -> dict:
    """Settings for gunicorn; env SWR_BRIDGE_* variables override the defaults."""
    env = os.environ.get
    conf = {
        "bind": listen,
        # gthread with heads and first body bytes read in its event loop (adapter/worker.py); `gthread`
        # itself is the fallback (and what bench/abuse.py --worker gthread compares with).
        "worker_class": env("SWR_BRIDGE_WORKER_CLASS", "adapter.worker.BridgeWorker"),
        "workers": int(env("SWR_BRIDGE_WORKERS", "2")),
        # The worker's seats: requests run at once. A flowing upload holds one; a stalled body gives
        # its seat back and waits as one of SWR_BRIDGE_PARKED_BODIES extra threads (adapter/seats.py).
        "threads": worker_threads(),
        # gthread heartbeats from its main loop, so this only kills a stuck worker, not a slow upload.
        "timeout": int(env("SWR_BRIDGE_WORKER_TIMEOUT", "120")),
        # On SIGTERM in-flight uploads get this long to finish before workers are killed.
        "graceful_timeout": int(env("SWR_BRIDGE_GRACEFUL_TIMEOUT", "600")),
        "keepalive": 75,
        "forwarded_allow_ips": env("SWR_BRIDGE_FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        "accesslog": None,
        "errorlog": "-",
        "logger_class": "adapter.logs.GunicornLogger",
        "loglevel": env("SWR_BRIDGE_GUNICORN_LOGLEVEL", "warning"),
        # Upload tokens ride in the URL; keep room for them.
        "limit_request_line": 8190,
        # No runtime control socket: it would live in $HOME, which is read-only in the container.
        "control_socket_disable": True,
        # A worker's live gauges go with it; its counters stay and are still summed by /metrics.
        "child_exit": child_exit,
    }
    if env("SWR_BRIDGE_TLS_CERT") and env("SWR_BRIDGE_TLS_KEY"):
        conf["certfile"], conf["keyfile"] = env("SWR_BRIDGE_TLS_CERT"), env("SWR_BRIDGE_TLS_KEY")
    return conf
