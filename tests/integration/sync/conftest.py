"""Fixtures for sync tests: source registries (no auth, htpasswd), a connection-resetting TCP proxy,
and helpers that write auth/images files and run the real `swr-bridge` command."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import yaml

from adapter.sandbox.registry import RegistryProcess, free_port, registry_config
from tests import images
from tests.registries import plain_registry

SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))
SOURCE_USER = "syncer"
SOURCE_PASSWORD = "sync-source-pw-1"
# bcrypt (cost 4) of SOURCE_PASSWORD, as docker-registry's htpasswd auth wants it.
SOURCE_HTPASSWD = f"{SOURCE_USER}:$2a$04$rqTpUIgRgLvvMY.ohsaeKuP9O/RRy9E3Vx0fHxKEZnje.BRjpdfma\n"
_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test in this session uses (organizations are global in the sandbox)."""
    return f"{prefix}{os.getpid() % 10000}-{next(_names)}"


@pytest.fixture(scope="module")
def plain_source(tmp_path_factory):
    """A docker-registry without authentication on 127.0.0.1; `.url`, `.host`."""
    with plain_registry(tmp_path_factory.mktemp("plain-source")) as process:
        process.host = process.url.removeprefix("http://")
        yield process


@pytest.fixture(scope="module")
def basic_source(tmp_path_factory):
    """A docker-registry with htpasswd (Basic) authentication for SOURCE_USER / SOURCE_PASSWORD."""
    root = tmp_path_factory.mktemp("basic-source")
    (root / "htpasswd").write_text(SOURCE_HTPASSWD)
    port = free_port()
    config = registry_config(port=port, storage=root / "data")
    config["auth"] = {"htpasswd": {"realm": "sync-tests", "path": str(root / "htpasswd")}}
    process = RegistryProcess(root / "registry.yml", root / "registry.log", port)
    process.start(config)
    process.host = process.url.removeprefix("http://")
    yield process
    process.stop()


def push_image(image: images.Image, ref: str, creds: str | None = None) -> None:
    result = images.push(image, ref, creds)
    assert result.returncode == 0, result.stderr


def push_images(source, tmp_path_factory, refs, creds: str | None = None, **build) -> dict[str, str]:
    """An image (images.build_image with `build`) for each `repo:tag` of `refs`, pushed to `source`;
    {repo:tag: digest}."""
    pushed = {}
    for ref in refs:
        image = images.build_image(tmp_path_factory.mktemp("img"), ref.rsplit(":", 1)[1], **build)
        push_image(image, f"{source.host}/{ref}", creds)
        pushed[ref] = image.digest
    return pushed


def put_blob(http: requests.Session, registry_url: str, repo: str, data: bytes, media_type: str) -> dict:
    """One blob straight through the registry API (POST, then a monolithic PUT); its descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = http.post(f"{registry_url}/v2/{repo}/blobs/uploads/", timeout=10)
    done = http.put(start.headers["Location"], params={"digest": digest}, data=data, timeout=30)
    assert done.status_code == 201, done.text
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def put_image(http: requests.Session, registry_url: str, repo: str, ref: str, layers: list[dict],
              config: dict) -> None:
    """An OCI image manifest over `layers` (descriptors already in `repo`) with `config` as its config blob."""
    doc = {"schemaVersion": 2, "mediaType": images.OCI_MANIFEST, "layers": layers,
           "config": put_blob(http, registry_url, repo, json.dumps(config).encode(), images.OCI_CONFIG)}
    put = http.put(f"{registry_url}/v2/{repo}/manifests/{ref}", data=json.dumps(doc), timeout=10,
                   headers={"Content-Type": images.OCI_MANIFEST})
    assert put.status_code == 201, put.text


def manifest_digest(registry_url: str, repo: str, ref: str, token: str | None = None,
                    auth=None) -> str | None:
    """The Docker-Content-Digest a registry answers for repo:ref, None on 404."""
    headers = {"Accept": ", ".join((images.OCI_INDEX, images.DOCKER_LIST, images.OCI_MANIFEST,
                                    images.DOCKER_MANIFEST))}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    resp = requests.head(f"{registry_url}/v2/{repo}/manifests/{ref}", headers=headers, auth=auth, timeout=10)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.headers["Docker-Content-Digest"]


def dest_digest(sandbox, repo: str, ref: str, tenant=None) -> str | None:
    """The digest the sandbox holds for repo:ref, read with a pull token of `tenant`."""
    return manifest_digest(sandbox.registry_url, repo, ref, sandbox.token(tenant, f"repository:{repo}:pull"))


def sandbox_host(sandbox) -> str:
    return sandbox.registry_url.removeprefix("http://")


def aksk_auth(sandbox, tenant=None, key: str | None = None, **changed) -> dict:
    """An auth-file entry with AK/SK for a sandbox tenant (organizations made through /v2/manage); `changed`
    replaces fields (a wrong secret_key, an api that does not resolve)."""
    t = sandbox.tenant(tenant)
    return {key or sandbox_host(sandbox): {"access_key": t.ak, "secret_key": t.sk, "project": t.project,
                                           "api": sandbox.api_url, **changed}}


def write(path: Path, data, fmt: str | None = None) -> Path:
    """Writes `data` as JSON or YAML, chosen by the file name unless `fmt` says."""
    fmt = fmt or ("json" if path.suffix == ".json" else "yaml")
    path.write_text(json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data))
    return path


def run_sync(*args, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs the real `swr-bridge` with `args`; stdout, stderr and the exit code come back."""
    return subprocess.run([SWR_BRIDGE, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def sync_files(tmp_path: Path, auth: dict, rules: dict, *flags, auth_file: str = "auth.json",
               images_file: str = "images.json", **kwargs) -> subprocess.CompletedProcess:
    """`swr-bridge sync` with `auth` and `rules` written to files in tmp_path (JSON or YAML by the names),
    then `flags`; `kwargs` go to run_sync."""
    return run_sync("sync", "--auth", write(tmp_path / auth_file, auth),
                    "--images", write(tmp_path / images_file, rules), *flags, **kwargs)


def report_of(result: subprocess.CompletedProcess) -> dict:
    """The `-o json` report, with the process output in the failure message when it is not JSON."""
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"no JSON report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}") from None


class ResetProxy:
    """A TCP proxy on 127.0.0.1 that resets connections: the first `resets` connections (all of them when
    `resets` is None) that carry more than `after` bytes of the target's answers get an RST at that point.
    Connections that stay small (tag lists, manifests) pass untouched and use up none of the resets."""

    def __init__(self, target_port: int, *, resets: int | None = 3, after: int = 1024):
        self.target_port, self.resets_left, self.after = target_port, resets, after
        self.resets_done = self.connections = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "ResetProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._relay, args=(client, upstream, self.after), daemon=True).start()

    def _claim_reset(self) -> bool:
        with self._lock:
            if self.resets_left is None:
                return True
            if self.resets_left > 0:
                self.resets_left -= 1
                return True
            return False

    def _relay(self, client: socket.socket, upstream: socket.socket, limit: int | None) -> None:
        """Both directions in one thread, so that closing the client socket sends its RST at once."""
        sent, peer = 0, {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 30)
                if not readable:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise EOFError
                    if sock is upstream and limit is not None and sent + len(data) > limit:
                        if self._claim_reset():
                            client.sendall(data[:limit - sent])
                            self._reset(client)
                            return
                        limit = None  # out of resets: this one passes whole
                    peer[sock].sendall(data)
                    sent += len(data) if sock is upstream else 0
        except (OSError, EOFError):
            pass
        finally:
            upstream.close()
        client.close()

    def _reset(self, client: socket.socket) -> None:
        with self._lock:
            self.resets_done += 1
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()


@pytest.fixture
def reset_proxy():
    """A factory: reset_proxy(target_port, resets=3, after=1024) -> a started ResetProxy, stopped after."""
    proxies = []

    def make(target_port: int, **kwargs) -> ResetProxy:
        proxy = ResetProxy(target_port, **kwargs).__enter__()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.__exit__()
