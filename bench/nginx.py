"""Debian nginx as a dumb streaming relay on 127.0.0.1 (one worker, no buffering): the benchmarks' anchor."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from adapter.sandbox.registry import free_port, stop_process

NGINX = "/usr/sbin/nginx"
CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream registry {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_read_timeout 600s;
        proxy_send_timeout 600s;
        {extra}
        location / {{
            proxy_pass http://registry;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Nginx:
    """`with Nginx("127.0.0.1:5000") as relay:` relay.port forwards everything there; stopped on exit.
    `extra`: more directives for the server block (e.g. client_header_timeout)."""

    def __init__(self, upstream: str, extra: str = ""):
        self.upstream, self.port, self.extra = upstream, free_port(), extra
        self.proc = None

    def __enter__(self) -> "Nginx":
        if not Path(NGINX).exists():
            raise SystemExit(f"{NGINX} not found (Debian package nginx; scripts/system-deps.sh installs it)")
        self._tmp = tempfile.mkdtemp(prefix="bench-nginx-")
        os.chmod(self._tmp, 0o755)  # started as root, nginx's worker runs as nobody
        conf = Path(self._tmp) / "nginx.conf"
        conf.write_text(CONF.format(tmp=self._tmp, upstream=self.upstream, port=self.port, extra=self.extra))
        self.proc = subprocess.Popen([NGINX, "-p", self._tmp, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise SystemExit("nginx did not come up")

    def __exit__(self, *exc) -> None:
        stop_process(self.proc)
        shutil.rmtree(self._tmp, ignore_errors=True)
