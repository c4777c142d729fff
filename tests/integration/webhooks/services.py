"""Real PostgreSQL and Alertmanager processes on 127.0.0.1, started from the Debian packages for tests."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from adapter.sandbox.registry import free_port, stop_process


def _wait(ready, proc: subprocess.Popen, what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s: {log.read_text()[-2000:]}")


class Postgres:
    """A throwaway cluster: initdb into a temp dir, password auth over TCP only, stopped on exit.

    PostgreSQL refuses to run as root, so as root it runs as `nobody` (setpriv execs, no extra process).
    """

    def __init__(self, keep: Path | None = None):
        """`keep`: a directory whose cluster outlives stop() and is started again as it was (benchmarks load
        their data once into one); by default a fresh temp directory, removed on stop()."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql, /usr/lib/postgresql/*/bin)")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.keep = keep
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
        self.dir = keep or Path(tempfile.mkdtemp(prefix="swr-bridge-pg-"))
        existing = self.dir / "pw"
        self.password = existing.read_text() if existing.exists() else "pg-" + os.urandom(8).hex()
        self.proc: subprocess.Popen | None = None

    def _as_owner(self, *cmd: str) -> list[str]:
        if os.geteuid() != 0:
            return list(cmd)
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *cmd]

    def start(self) -> Postgres:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        (self.dir / "pw").write_text(self.password)
        os.chmod(self.dir / "pw", 0o644)
        log = self.dir / "postgres.log"
        if not (self.dir / "data").exists():
            subprocess.run(self._as_owner(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                                          "--auth-local=trust", "--auth-host=scram-sha-256",
                                          f"--pwfile={self.dir}/pw", "-E", "UTF8", "--locale=C", "--no-sync"),
                           check=True, capture_output=True, cwd=self.dir)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(self._as_owner(
                str(self.bin / "postgres"), "-D", str(self.dir / "data"), "-h", "127.0.0.1", "-p", str(self.port),
                "-k", "", "-c", "fsync=off", "-c", "max_connections=200"), stdout=out, stderr=subprocess.STDOUT,
                cwd=self.dir)
        _wait(self._accepts, self.proc, "postgres", log)
        return self

    def _accepts(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres password={self.password} dbname={database}"

    def url(self, database: str) -> str:
        """A store URL without the password, as the config wants it (it comes from store_password_env)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 20, signal.SIGINT)  # "fast" shutdown
        if self.keep is None:
            shutil.rmtree(self.dir, ignore_errors=True)


class Alertmanager:
    """prometheus-alertmanager with a do-nothing receiver, clustering off, on a free port."""

    CONFIG = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"

    def __init__(self):
        self.binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if not self.binary:
            raise RuntimeError("Alertmanager is not installed (Debian package prometheus-alertmanager)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="swr-bridge-am-"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Alertmanager:
        (self.dir / "am.yml").write_text(self.CONFIG)
        log = self.dir / "alertmanager.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([
                self.binary, f"--config.file={self.dir}/am.yml", f"--storage.path={self.dir}/data",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        _wait(self._ready, self.proc, "alertmanager", log)
        return self

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def alerts(self, **params) -> list[dict]:
        return requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=5).json()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 20)
        shutil.rmtree(self.dir, ignore_errors=True)


class Gunicorn:
    """`gunicorn adapter.wsgi:app` with the bridge's config file, in its own process group (for kill -9)."""

    def __init__(self, config_path: Path, log_path: Path, *, workers: int = 2, threads: int = 8):
        self.config_path, self.log_path = config_path, log_path
        self.workers, self.threads = workers, threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        import sys

        # Each worker's private budget and seats files go where the test's files are: kill9() leaves them.
        env = {**os.environ, "SWR_BRIDGE_CONFIG": str(self.config_path), "TMPDIR": str(self.log_path.parent)}
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(self.workers), "--threads",
                 str(self.threads), "-b", f"127.0.0.1:{self.port}", "--log-level", "debug", "adapter.wsgi:app"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=Path(__file__).resolve().parents[3])
        _wait(self._ready, self.proc, "gunicorn", self.log_path)
        return self

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill9(self) -> None:
        """SIGKILL to the master and every worker at once: no graceful anything."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
