"""The relay under upstream failure, and what its logs may never contain."""

import base64
import json
import os
import time

import requests
import yaml

from adapter.sandbox.runner import Sandbox
from tests.images import build_image, push, skopeo
from tests.integration.endpoint import Endpoint
from tests.registries import DIRECT, TEST_STRICT

MIB = 1024 * 1024


def token_for(ep, tenant, name) -> dict:
    resp = requests.get(f"{ep.url}/auth/token", params={"scope": f"repository:{name}:pull,push"},
                        auth=(tenant.access_id, tenant.sk), timeout=10)
    assert resp.status_code == 200
    return {"Authorization": "Bearer " + resp.json()["token"]}


def test_upstream_killed_mid_upload_gives_502_and_a_retry_after_restart_works(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=DIRECT) as sbx:
        tenant = sbx.tenants[0]
        sbx.create_organization(tenant, "killed")
        with Endpoint(tmp_path, sbx) as ep:
            auth = token_for(ep, tenant, "killed/app")
            start = requests.post(f"{ep.url}/v2/killed/app/blobs/uploads/", headers=auth, timeout=10)
            assert start.status_code == 202
            registry = sbx._registry

            def body():
                yield os.urandom(MIB)
                time.sleep(0.5)
                registry.proc.kill()
                registry.proc.wait(10)
                for _ in range(16):
                    yield os.urandom(MIB)

            resp = requests.patch(ep.url + start.headers["Location"], data=body(), headers=auth, timeout=60)
            assert resp.status_code in (502, 504)
            assert resp.json()["errors"][0]["code"] in ("UPSTREAM_UNREACHABLE", "UPSTREAM_TIMEOUT")
            assert "Traceback" not in resp.text

            registry.start(yaml.safe_load(registry.config_path.read_text()))
            image = build_image(tmp_path / "img", "v1", layers=2, layer_size=2 * MIB)
            result = push(image, f"127.0.0.1:{ep.port}/killed/app:v1", f"{tenant.access_id}:{tenant.sk}")
            assert result.returncode == 0, result.stderr


def test_logs_never_contain_the_sk_or_the_login_key(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=TEST_STRICT) as sbx:
        tenant = sbx.tenants[0]
        sbx.create_organization(tenant, "logged")
        # The most verbose logging there is: the app at DEBUG, gunicorn at debug.
        ep = Endpoint(tmp_path, sbx, extra={"log_level": "DEBUG"})
        ep.env["SWR_BRIDGE_GUNICORN_LOGLEVEL"] = "debug"
        with ep:
            image = build_image(tmp_path / "img", "v1", layers=2)
            for secret in (tenant.sk, tenant.login_key):
                result = push(image, f"127.0.0.1:{ep.port}/logged/app:v1", f"{tenant.access_id}:{secret}")
                assert result.returncode == 0, result.stderr
            pulled = skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{tenant.access_id}:{tenant.sk}",
                            f"docker://127.0.0.1:{ep.port}/logged/app:v1", f"oci:{tmp_path / 'pulled'}:v1")
            assert pulled.returncode == 0, pulled.stderr
            bad = requests.get(f"{ep.url}/v2/", headers={"Authorization": "Basic " + base64.b64encode(
                f"{tenant.access_id}:{tenant.sk[:-1]}X".encode()).decode()}, timeout=10)
            assert bad.status_code == 401
            traced = requests.get(f"{ep.url}/v2/", auth=(tenant.access_id, tenant.sk),
                                  headers={"X-Request-Id": "harbor-job-42"}, timeout=10)
            assert traced.status_code == 200 and traced.headers["X-Request-Id"] == "harbor-job-42"
        text = ep.log_text()
        # Every log of the run: the endpoint's (gunicorn and app), and the sandbox's own.
        every_log = text + "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(e.get("request_id") == "harbor-job-42" and e.get("principal") == tenant.access_id for e in lines)
    uploads = [e for e in lines if e.get("method") in ("PATCH", "PUT") and e.get("repository") == "logged/app"]
    assert uploads and all("duration_ms" in e and "bytes_in" in e for e in uploads)
    assert sum(e["bytes_in"] for e in uploads) > 0
    pulls = [e for e in lines if e.get("method") == "GET" and "/blobs/sha256:" in e.get("path", "")]
    assert pulls and sum(e["bytes_out"] for e in pulls) > 0  # streamed answers are logged too
    assert any(entry.get("principal") == tenant.access_id and entry.get("repository") == "logged/app"
               for entry in lines), "access log lines with principal and repository expected"
    assert all(entry.get("request_id") for entry in lines if entry.get("msg") == "request")
    for secret in (tenant.sk, tenant.login_key, tenant.sk[:-1] + "X",
                   base64.b64encode(f"{tenant.access_id}:{tenant.sk}".encode()).decode(),
                   base64.b64encode(f"{tenant.access_id}:{tenant.login_key}".encode()).decode()):
        assert secret not in every_log
