"""The sandbox with real processes: docker-registry verifying our JWTs, skopeo pushing, signed API calls, CLI."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from adapter.sandbox.runner import DEMO_TENANT, Sandbox
from adapter.sandbox.state import Tenant
from adapter.sandbox.tokens import libtrust_key_id
from adapter.swr.signer import DATE_FORMAT, SdkHmacSha256Auth
from tests import images
from tests.registries import TEST_STRICT

pytestmark = pytest.mark.real
SWR_BRIDGE = str(Path(sys.executable).with_name("swr-bridge"))
REALM = "/swr/auth/v2/registry/auth/"


def creds(tenant: Tenant, password: str | None = None) -> str:
    return f"{tenant.access_id}:{password or tenant.login_key}"


def host(sandbox) -> str:
    return sandbox.registry_url.removeprefix("http://")


def signed_create(sandbox, tenant, name) -> requests.Response:
    return requests.post(sandbox.api_url + "/v2/manage/namespaces", json={"namespace": name},
                         auth=SdkHmacSha256Auth(tenant.ak, tenant.sk), timeout=10)


def test_push_needs_an_organization_created_through_the_signed_api(sandbox, oci_image):
    tenant = sandbox.tenants[0]
    image = oci_image("v1", layers=3)
    org = f"pushorg{os.getpid()}"
    dest = f"{host(sandbox)}/{org}/app:v1"

    refused = images.push(image, dest, creds(tenant))
    assert refused.returncode != 0 and "denied" in refused.stderr

    assert signed_create(sandbox, tenant, org).status_code == 201
    pushed = images.push(image, dest, creds(tenant))
    assert pushed.returncode == 0, pushed.stderr
    shown = images.inspect(dest, creds(tenant))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["Digest"] == image.digest

    with sandbox.manage_session(tenant) as session:
        repos = session.get(sandbox.api_url + "/v2/manage/repos", params={"namespace": org}, timeout=10)
    [repo] = repos.json()
    assert repo["name"] == "app" and repo["tags"] == ["v1"] and repo["size"] == sum(b["size"] for b in image.blobs)
    assert repos.headers["Content-Range"] == "0-1/1"


def test_another_tenant_cannot_push_into_the_organization(sandbox, new_org, oci_image):
    org = new_org()
    result = images.push(oci_image(), f"{host(sandbox)}/{org}/app:latest", creds(sandbox.tenants[1]))
    assert result.returncode != 0 and "denied" in result.stderr


def test_wrong_key_is_refused_by_the_token_service(sandbox, new_org, oci_image):
    tenant, org = sandbox.tenants[0], new_org()
    result = images.push(oci_image(), f"{host(sandbox)}/{org}/app:latest", creds(tenant, "0" * 64))
    assert result.returncode != 0 and "invalid username/password" in result.stderr
    resp = requests.get(sandbox.api_url + REALM, params={"scope": f"repository:{org}/app:push,pull"},
                        auth=(tenant.access_id, tenant.sk), timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"errors": [{"errorCode": "SVCSTG.SWR.4010000", "errorMessage": "Authenticate Error"}]}


def test_tampered_signature_and_stale_date_are_refused(sandbox):
    tenant = sandbox.tenants[0]
    url = sandbox.api_url + "/v2/manage/namespaces"
    prepared = requests.Request("GET", url, auth=SdkHmacSha256Auth(tenant.ak, tenant.sk)).prepare()
    prepared.headers["Authorization"] = prepared.headers["Authorization"].replace("Signature=", "Signature=0")
    with requests.Session() as session:
        tampered = session.send(prepared, timeout=10)
    assert tampered.status_code == 401 and tampered.json()["error_code"] == "APIGW.0301"

    stale = (datetime.now(timezone.utc) - timedelta(minutes=20)).strftime(DATE_FORMAT)
    resp = requests.get(url, headers={"X-Sdk-Date": stale}, auth=SdkHmacSha256Auth(tenant.ak, tenant.sk),
                        timeout=10)
    assert resp.status_code == 401 and "15 minutes" in resp.json()["error_msg"]
    fresh = requests.get(url, auth=SdkHmacSha256Auth(tenant.ak, tenant.sk), timeout=10)
    assert fresh.status_code == 200


def _bearer(sandbox, token) -> int:
    return requests.get(sandbox.registry_url + "/v2/", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code


def test_docker_registry_really_verifies_the_jwt(sandbox, new_org):
    org = new_org()
    good = sandbox.token(None, f"repository:{org}/app:pull")
    assert _bearer(sandbox, good) == 200
    claims = jwt.decode(good, options={"verify_signature": False})
    header = jwt.get_unverified_header(good)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Same claims, signed by a key the registry does not trust: once claiming our kid, once its own.
    assert _bearer(sandbox, jwt.encode(claims, other, "RS256", headers={"kid": header["kid"]})) == 401
    own_kid = libtrust_key_id(other.public_key())
    assert _bearer(sandbox, jwt.encode(claims, other, "RS256", headers={"kid": own_kid})) == 401
    # Our key, but for another audience: the claims are checked too.
    wrong_aud = sandbox.issuer.mint("x", [], ttl=60)[0]
    forged = jwt.encode(dict(jwt.decode(wrong_aud, options={"verify_signature": False}), aud="other"),
                        sandbox.issuer._key, "RS256", headers={"kid": sandbox.issuer.kid})
    assert _bearer(sandbox, forged) == 401
    tags = requests.get(f"{sandbox.registry_url}/v2/{org}/app/tags/list",
                        headers={"Authorization": f"Bearer {sandbox.token(None)}"}, timeout=10)
    assert tags.status_code == 401


def test_dockyard_endpoints(sandbox, oci_image):
    tenant = sandbox.tenants[0]
    auth = (tenant.access_id, tenant.login_key)
    org = f"dock{os.getpid()}"
    base = sandbox.api_url + "/dockyard/v2"
    missing = requests.get(f"{base}/namespaces/{org}", auth=auth, timeout=10)
    assert missing.status_code == 200 and missing.json() == {}
    assert requests.post(f"{base}/namespaces", json={"namespace": org}, auth=auth, timeout=10).status_code == 201
    assert requests.post(f"{base}/namespaces", json={"namespace": org}, auth=auth, timeout=10).status_code == 409
    assert images.push(oci_image("t1"), f"{host(sandbox)}/{org}/a/b:t1", creds(tenant)).returncode == 0
    got = requests.get(f"{base}/namespaces/{org}", auth=auth, timeout=10).json()
    assert got["name"] == org and got["auth"] == 7 and got["image_count"] == 1
    visible = requests.get(f"{base}/visible/namespaces", auth=auth, timeout=10).json()["namespaces"]
    assert org in [n["name"] for n in visible]
    repos = requests.get(f"{base}/repositories?filter=center::self", auth=auth, timeout=10).json()
    [entry] = [r for r in repos if r["namespace"] == org]
    assert entry["name"] == "a/b" and entry["tags"] == ["t1"]
    other = sandbox.tenants[1]
    assert requests.get(f"{base}/namespaces/{org}", auth=(other.access_id, other.login_key),
                        timeout=10).json() == {}


def test_quota_and_restart_keep_organizations_and_images(tmp_path, oci_image):
    tenant = Tenant("eu-de", "SBXQUOTATENANT000001", "sandbox-quota-secret-0123456789")
    image = oci_image("keep")
    with Sandbox(tmp_path / "data", tenants=[tenant], org_quota=2, strict=TEST_STRICT) as box:
        assert signed_create(box, tenant, "first").status_code == 201
        assert signed_create(box, tenant, "second").status_code == 201
        over = signed_create(box, tenant, "third")
        assert over.status_code == 400 and over.json()[0]["errorCode"] == "SVCSTG.SWR.4000097"
        assert images.push(image, f"{host(box)}/first/app:keep", creds(tenant)).returncode == 0
    with Sandbox(tmp_path / "data", tenants=[tenant], org_quota=2, strict=TEST_STRICT) as box:
        with box.manage_session(tenant) as session:
            names = session.get(box.api_url + "/v2/manage/namespaces", timeout=10).json()["namespaces"]
        assert [n["name"] for n in names] == ["first", "second"]
        shown = images.inspect(f"{host(box)}/first/app:keep", creds(tenant))
        assert shown.returncode == 0 and json.loads(shown.stdout)["Digest"] == image.digest


def test_registry_stops_with_the_sandbox(tmp_path):
    box = Sandbox(tmp_path / "data", strict=TEST_STRICT).start()
    url, proc = box.registry_url, box._registry.proc
    box.stop()
    assert proc.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v2/", timeout=2)


def _read_line(proc, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    raise AssertionError(f"no line from swr-bridge sandbox (rc={proc.poll()})")


def _run_cli(data: Path, stderr_path: Path, env=None, *args) -> subprocess.Popen:
    return subprocess.Popen([SWR_BRIDGE, "sandbox", "--data", str(data), "--registry-port", "0",
                             "--api-port", "0", *args], stdout=subprocess.PIPE, text=True,
                            stderr=open(stderr_path, "ab"), env=dict(os.environ, **(env or {})))


def _stop_cli(proc, signum=signal.SIGTERM) -> str:
    proc.send_signal(signum)
    rest, _ = proc.communicate(timeout=20)
    return rest


def test_cli_prints_one_json_line_and_stops_cleanly(tmp_path):
    data, log = tmp_path / "data", tmp_path / "stderr.log"
    proc = _run_cli(data, log)
    try:
        ready = json.loads(_read_line(proc))
        [tenant] = ready["tenants"]
        assert tenant == {"access_id": DEMO_TENANT.access_id, "ak": DEMO_TENANT.ak, "sk": DEMO_TENANT.sk,
                          "login_key": DEMO_TENANT.login_key}
        assert requests.get(ready["registry"] + "/v2/", timeout=5).status_code == 401
        resp = requests.post(ready["api"] + "/v2/manage/namespaces", json={"namespace": "clikept"},
                             auth=SdkHmacSha256Auth(tenant["ak"], tenant["sk"]), timeout=10)
        assert resp.status_code == 201
        # Where the /dockyard calls go (the `dockyard` key of the endpoint's config and of sync's auth file).
        resp = requests.get(ready["dockyard"] + "/dockyard/v2/namespaces/clikept",
                            auth=(tenant["access_id"], tenant["login_key"]), timeout=10)
        assert resp.status_code == 200, resp.text
    finally:
        rest = _stop_cli(proc)
    assert proc.returncode == 0 and rest == ""
    assert DEMO_TENANT.sk not in log.read_text() and DEMO_TENANT.login_key not in log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(ready["registry"] + "/v2/", timeout=2)
    assert (data / "registry").is_dir() and (data / "certs/token.crt").is_file()
    assert "clikept" in (data / "state.json").read_text()


def test_cli_takes_tenants_from_env_and_sigint(tmp_path):
    env = {"SWR_SANDBOX_TENANTS": "eu-de:SBXENVTENANT00000001:env-secret-one-0123456789,"
                                  "eu-nl:SBXENVTENANT00000002:env-secret-two-0123456789"}
    proc = _run_cli(tmp_path / "data", tmp_path / "stderr.log", env)
    try:
        ready = json.loads(_read_line(proc))
    finally:
        _stop_cli(proc, signal.SIGINT)
    assert [t["access_id"] for t in ready["tenants"]] == ["eu-de@SBXENVTENANT00000001",
                                                         "eu-nl@SBXENVTENANT00000002"]
    assert proc.returncode == 0


def test_cli_rejects_a_bad_tenant_without_a_traceback(tmp_path):
    result = subprocess.run([SWR_BRIDGE, "sandbox", "--data", str(tmp_path), "--tenant", "nonsense"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "PROJECT:AK:SK" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("shape", ["docker-list", "docker-image", "artifact", "big"])
def test_image_helpers_push_byte_exact(sandbox, new_org, tmp_path, shape):
    """tests/images.py builds what other layers push; each shape SWR accepts reaches the registry unchanged
    (an OCI index, which SWR refuses, is in test_sandbox_strict.py)."""
    tenant, org = sandbox.tenants[0], new_org()
    build = {
        "docker-list": lambda: images.build_index(tmp_path / "l", "t", docker=True),
        "docker-image": lambda: images.build_image(tmp_path / "l", "t", docker=True),
        "artifact": lambda: images.build_artifact(tmp_path / "l", "t", images.build_image(tmp_path / "l", "s")),
        "big": lambda: images.build_big_image(tmp_path / "l", "t", size_mib=3, layers=2),
    }
    image = build[shape]()
    pushed = images.push(image, f"{host(sandbox)}/{org}/shape:t", creds(tenant))
    assert pushed.returncode == 0, pushed.stderr
    raw = images.inspect(f"{host(sandbox)}/{org}/shape:t", creds(tenant), raw=True)
    assert raw.returncode == 0 and raw.stdout.encode() == image.manifest
    assert json.loads(image.manifest)["mediaType"] == image.media_type
    if shape == "big":
        assert sum(b["size"] for b in image.blobs) > 3 * images.MIB
    for child in image.children:
        got = images.inspect(f"{host(sandbox)}/{org}/shape@{child.digest}", creds(tenant), raw=True)
        assert got.returncode == 0 and got.stdout.encode() == child.manifest


def test_tag_listing_reports_each_tags_manifest_digest(sandbox, new_org, tmp_path):
    """SWR's GET .../repos/{repo}/tags (swr.md §2.5): `Tag`, the manifest digest, tag_type, Content-Range pages."""
    from adapter.swr.api import SwrApi, SwrNameInvalid, SwrNotFound

    tenant, org = sandbox.tenants[0], new_org()
    image, index = images.build_image(tmp_path / "i", "a"), images.build_index(tmp_path / "x", "b", docker=True)
    for tag, built in (("a", image), ("b", index), ("c", image)):
        assert images.push(built, f"{host(sandbox)}/{org}/team/app:{tag}", creds(tenant)).returncode == 0
    api = SwrApi(sandbox.api_url, tenant.ak, tenant.sk, project_id=tenant.project)

    listed = {t["Tag"]: t for t in api.list_tags(org, "team/app", page_size=2)}
    assert {t: e["digest"] for t, e in listed.items()} == {"a": image.digest, "b": index.digest, "c": image.digest}
    assert [listed[t]["tag_type"] for t in "abc"] == [0, 1, 0]
    assert listed["a"]["manifest"].encode() == image.manifest and listed["a"]["path"].endswith(f"/{org}/team/app:a")
    assert listed["a"]["size"] == sum(b["size"] for b in image.blobs)

    with sandbox.manage_session(tenant) as session:
        page = session.get(f"{sandbox.api_url}/v2/manage/namespaces/{org}/repos/team%24app/tags",
                           params={"offset": "2", "limit": "2", "order_column": "tag", "order_type": "asc"},
                           timeout=10)
        bad = session.get(f"{sandbox.api_url}/v2/manage/namespaces/{org}/repos/team%24app/tags",
                          params={"limit": "5000"}, timeout=10)
    assert page.headers["Content-Range"] == "2-1/3" and [t["Tag"] for t in page.json()] == ["c"]
    assert bad.status_code == 400 and "limit" in bad.text
    with pytest.raises(SwrNotFound):
        api.list_tags(org, "missing")
    with pytest.raises(SwrNameInvalid):
        api.list_tags(org, "../../etc")
    with pytest.raises(SwrNotFound):  # another tenant's organization is invisible
        SwrApi(sandbox.api_url, sandbox.tenants[1].ak, sandbox.tenants[1].sk).list_tags(org, "team/app")


def test_cli_turns_swr_checks_off_and_refuses_a_bad_size(tmp_path):
    proc = _run_cli(tmp_path / "data", tmp_path / "stderr.log", None, "--accept-oci-index", "--push-rate", "0",
                    "--max-layer-size", "0", "--max-concurrent-layers", "0", "--accept-any-name", "--no-registry-host-api")
    try:
        ready = json.loads(_read_line(proc))
        challenge = requests.get(ready["registry"] + "/v2/", timeout=5).headers["WWW-Authenticate"]
        assert f'realm="{ready["api"]}/swr/auth/v2/registry/auth/"' in challenge  # docker-registry itself
    finally:
        _stop_cli(proc)
    bad = subprocess.run([SWR_BRIDGE, "sandbox", "--data", str(tmp_path), "--max-layer-size", "huge"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--max-layer-size" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([SWR_BRIDGE, "sandbox", "--data", str(tmp_path), "--max-concurrent-layers", "-1"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--max-concurrent-layers" in bad.stderr and "Traceback" not in bad.stderr
