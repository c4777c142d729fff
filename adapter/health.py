"""Liveness and readiness: /healthz says the process is up; /readyz that it can do its work.

/readyz checks that the SWR registry and the SWR API answer HTTP at all (any status below 500:
an unauthenticated probe gets 401, which still proves the path works), and that the webhook store
takes a write when the bridge is configured. The verdict is cached for READY_CACHE_SECONDS per
process, so probes from Kubernetes, a load balancer and an operator do not each hit SWR.

`python -m adapter.health [URL]` probes /healthz from inside the container (the Docker HEALTHCHECK).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import requests
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)
READY_CACHE_SECONDS = 5.0
PROBE_TIMEOUT = (2.0, 3.0)


class Readiness:
    """Runs the checks at most once per `ttl` seconds; concurrent probes share one run."""

    def __init__(self, app, ttl: float = READY_CACHE_SECONDS, clock=time.monotonic):
        from adapter.config import swr_endpoints

        config = app.config["BRIDGE"]
        self.app, self.ttl, self.clock = app, ttl, clock
        self.registry, self.api = swr_endpoints(config)
        self.verify = config.swr.verify
        self.session = requests.Session()
        self.session.trust_env = False  # the same rule as the relay: no proxies from env
        self._lock = threading.Lock()
        self._cached: tuple[float, bool, dict] | None = None

    def check(self) -> tuple[bool, dict]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.ttl:
                checks = self._run()
                self._cached = (now, all(c["ok"] for c in checks.values()), checks)
            return self._cached[1], self._cached[2]

    def _run(self) -> dict:
        checks = {"swr_registry": self._reachable(self.registry + "/v2/"),
                  "swr_api": self._reachable(self.api + "/")}
        bridge = self.app.extensions.get("webhooks")
        if bridge is not None:
            checks["webhook_store"] = self._writable(bridge.store)
        return checks

    def _reachable(self, url: str) -> dict:
        try:
            resp = self.session.get(url, timeout=PROBE_TIMEOUT, verify=self.verify, allow_redirects=False)
        except requests.Timeout:
            return {"ok": False, "error": "timeout"}
        except requests.RequestException as exc:
            return {"ok": False, "error": f"unreachable ({type(exc).__name__})"}
        resp.close()
        if resp.status_code >= 500:
            return {"ok": False, "error": f"answered {resp.status_code}"}
        return {"ok": True}

    @staticmethod
    def _writable(store) -> dict:
        import sqlalchemy as sa

        from adapter.webhooks.store import schema_version

        try:
            # A write that changes nothing: it takes the write lock (SQLite) or needs a primary (PostgreSQL).
            with store.write() as conn:
                conn.execute(schema_version.update().values(version=schema_version.c.version))
        except sa.exc.SQLAlchemyError as exc:
            return {"ok": False, "error": f"store not writable ({type(exc).__name__})"}
        return {"ok": True}


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    ready, checks = current_app.extensions["swr-bridge.readiness"].check()
    return jsonify(status="ready" if ready else "unready", checks=checks), 200 if ready else 503


def init_app(app):
    app.extensions["swr-bridge.readiness"] = Readiness(app)
    app.register_blueprint(bp)


def probe(url: str | None = None) -> int:
    """0 when /healthz answers 200, else 1; TLS on localhost is not verified (the cert names the service)."""
    tls = bool(os.environ.get("SWR_BRIDGE_TLS_CERT") and os.environ.get("SWR_BRIDGE_TLS_KEY"))
    port = os.environ.get("SWR_BRIDGE_PORT", "8080")
    url = url or os.environ.get("SWR_BRIDGE_HEALTHCHECK_URL") or \
        f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    try:
        ok = requests.get(url, timeout=3, verify=False).status_code == 200
    except requests.RequestException as exc:
        print(f"unhealthy: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(probe(sys.argv[1] if len(sys.argv) > 1 else None))
