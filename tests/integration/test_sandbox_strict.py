"""The sandbox refuses and limits what SWR does (swr.md §4.5, §5.1, §6.3), on its registry address."""

from __future__ import annotations

import time

import requests

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests import images
from tests.conftest import SANDBOX_TENANTS
from tests.held import HeldPatch, wait_for
from tests.registries import TEST_STRICT

REFUSAL = "Invalid image, fail to parse 'manifest.json'"


def _creds(tenant) -> str:
    return f"{tenant.access_id}:{tenant.login_key}"


def _host(box) -> str:
    return box.registry_url.removeprefix("http://")


def test_oci_index_refused_its_oci_members_and_docker_lists_accepted(sandbox, new_org, tmp_path):
    tenant, org = sandbox.tenants[0], new_org()
    index = images.build_index(tmp_path / "oci", "multi")
    pushed = images.push(index, f"{_host(sandbox)}/{org}/app:multi", _creds(tenant))
    # skopeo reads the MANIFEST_INVALID as "try another format", which --preserve-digests forbids
    assert pushed.returncode != 0 and "must be converted" in pushed.stderr
    for child in index.children:  # skopeo pushed the members first: SWR takes OCI image manifests
        got = images.inspect(f"{_host(sandbox)}/{org}/app@{child.digest}", _creds(tenant), raw=True)
        assert got.returncode == 0 and got.stdout.encode() == child.manifest
    token = sandbox.token(tenant, f"repository:{org}/app:push,pull")
    put = requests.put(f"{sandbox.registry_url}/v2/{org}/app/manifests/direct", data=index.manifest, timeout=10,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": images.OCI_INDEX})
    assert put.status_code == 400
    assert put.json()["errors"][0]["code"] == "MANIFEST_INVALID" and put.json()["errors"][0]["message"] == REFUSAL
    listed = images.build_index(tmp_path / "docker", "list", docker=True)
    assert images.push(listed, f"{_host(sandbox)}/{org}/app:list", _creds(tenant)).returncode == 0


def test_dockyard_and_token_service_answer_on_the_registry_address(sandbox, new_org):
    tenant, org = sandbox.tenants[0], new_org()
    auth = (tenant.access_id, tenant.login_key)
    got = requests.get(f"{sandbox.registry_url}/dockyard/v2/namespaces/{org}", auth=auth, timeout=10)
    assert got.status_code == 200 and got.json()["name"] == org
    created = requests.post(f"{sandbox.registry_url}/dockyard/v2/namespaces", json={"namespace": f"{org}x"},
                            auth=auth, timeout=10)
    assert created.status_code == 201 and sandbox.state.owned(tenant, f"{org}x") is not None
    challenge = requests.get(f"{sandbox.registry_url}/v2/", timeout=10).headers["WWW-Authenticate"]
    assert f'realm="{sandbox.registry_url}/swr/auth/v2/registry/auth/"' in challenge
    assert requests.get(f"{sandbox.registry_url}/v2/manage/namespaces", timeout=10).status_code in (401, 404)


def test_a_layer_over_the_limit_is_refused_and_not_stored(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(max_layer_size=256 * 1024, push_rate=None)) as box:
        tenant = box.tenants[0]
        box.create_organization(tenant, "big")
        image = images.build_big_image(tmp_path / "img", "t", size_mib=1)
        pushed = images.push(image, f"{_host(box)}/big/app:t", _creds(tenant))
        assert pushed.returncode != 0 and "size invalid: layer exceeds the limit" in pushed.stderr
        token = box.token(tenant, "repository:big/app:push,pull")
        headers = {"Authorization": f"Bearer {token}"}
        start = requests.post(f"{box.registry_url}/v2/big/app/blobs/uploads/", headers=headers, timeout=10)
        layer = max(image.blobs, key=lambda b: b["size"])
        put = requests.put(start.headers["Location"], params={"digest": layer["digest"]}, headers=headers,
                           data=b"\0" * (256 * 1024 + 1), timeout=10)
        assert put.status_code == 413 and "limit of 262.144 kB per layer" in put.json()["errors"][0]["message"]
        head = requests.head(f"{box.registry_url}/v2/big/app/blobs/{layer['digest']}", headers=headers, timeout=10)
        assert head.status_code == 404


def test_a_tenant_over_the_request_rate_gets_503_with_retry_after(tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=5)) as box:
        tenant = box.tenants[0]
        box.create_organization(tenant, "fast")
        token = box.token(tenant, "repository:fast/app:push,pull")
        url = f"{box.registry_url}/v2/fast/app/manifests/latest"
        with requests.Session() as http:
            answers = [http.head(url, headers={"Authorization": f"Bearer {token}"}, timeout=10) for _ in range(12)]
            assert [a.status_code for a in answers].count(404) == 5  # admitted (nothing pushed yet)
            refused = [a for a in answers if a.status_code == 503]
            assert len(refused) == 7 and all(int(a.headers["Retry-After"]) >= 1 for a in refused)
            time.sleep(int(refused[-1].headers["Retry-After"]))
            assert http.head(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 404
        arrivals = [a for a in box.front.rates.arrivals if a[1] == tenant.access_id]
        assert len(arrivals) == 13 and sum(1 for a in arrivals if a[2]) == 6


def _upload(box, tenant, name: str) -> tuple[str, str]:
    """A started upload's location and the tenant's push token for it."""
    token = box.token(tenant, f"repository:{name}:push,pull")
    started = requests.post(f"{box.registry_url}/v2/{name}/blobs/uploads/", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert started.status_code == 202, started.text
    return started.headers["Location"], token


def test_a_tenant_has_at_most_20_layer_uploads_in_flight(tmp_path):
    # Strictness() as SWR has it, the request rate aside (41 uploads start within a second here).
    with Sandbox(tmp_path / "sbx", tenants=SANDBOX_TENANTS, strict=Strictness(push_rate=None)) as box:
        assert box.strict.max_concurrent_layers == 20  # on by default
        tenant, other = box.tenants
        box.create_organization(tenant, "many")
        box.create_organization(other, "other")
        in_flight = box.front.uploads.open
        held = [HeldPatch(box.registry_url, *_upload(box, tenant, "many/app")) for _ in range(20)]
        try:
            assert wait_for(lambda: in_flight.get(tenant.access_id) == 20), in_flight
            # The 21st is refused from its head alone: none of its body was sent (or read).
            refused = HeldPatch(box.registry_url, *_upload(box, tenant, "many/app"), first=0)
            assert refused.status() == "HTTP/1.1 503 SERVICE UNAVAILABLE"
            refused.close()
            location, token = _upload(box, tenant, "many/app")
            answer = requests.patch(location, data=b"layer", timeout=10, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
            error = answer.json()["errors"][0]
            assert error["code"] == "TOOMANYREQUESTS" and "at most 20 layers" in error["message"]
            # Another tenant's uploads are not affected.
            location, token = _upload(box, other, "other/app")
            answer = requests.patch(location, data=b"layer", timeout=10, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 202
            # An upload that ends frees its slot for the next one.
            assert held.pop().finish() == "HTTP/1.1 202 ACCEPTED"
            assert wait_for(lambda: in_flight[tenant.access_id] == 19), in_flight
            held.append(HeldPatch(box.registry_url, *_upload(box, tenant, "many/app")))
            assert wait_for(lambda: in_flight[tenant.access_id] == 20), in_flight
            assert [h.finish() for h in held] == ["HTTP/1.1 202 ACCEPTED"] * 20
        finally:
            for h in held:
                h.close()
        assert wait_for(lambda: in_flight[tenant.access_id] == 0) and box.front.uploads.peak[tenant.access_id] == 20


def test_each_check_can_be_turned_off(tmp_path):
    lenient = Strictness(refuse_oci_index=False, max_layer_size=None, push_rate=None, api_on_registry=False,
                         max_concurrent_layers=None, blacklist_logins=None, check_names=False)
    with Sandbox(tmp_path / "sbx", strict=lenient) as box:
        assert box.front is None and box.registry_url == box._registry.url  # docker-registry itself
        tenant = box.tenants[0]
        box.create_organization(tenant, "plain")
        index = images.build_index(tmp_path / "oci", "multi")
        assert images.push(index, f"{_host(box)}/plain/app:multi", _creds(tenant)).returncode == 0
    with Sandbox(tmp_path / "sbx2", strict=Strictness(refuse_oci_index=False, push_rate=None)) as box:
        tenant = box.tenants[0]
        box.create_organization(tenant, "lenient")
        index = images.build_index(tmp_path / "oci2", "multi")
        assert images.push(index, f"{_host(box)}/lenient/app:multi", _creds(tenant)).returncode == 0
    assert TEST_STRICT.refuse_oci_index and TEST_STRICT.max_layer_size and TEST_STRICT.max_concurrent_layers == 20
    assert TEST_STRICT.blacklist_logins == 600


def test_swr_answers_to_a_missing_organization_the_catalog_and_an_empty_repository(sandbox, new_org):
    """swr.md §6.1: a token for an organization that does not exist is refused (401 DENIED "Image
    organization does not exist"), /v2/_catalog is not served (404), and tags/list of a repository that
    holds no tag answers 200 with `"tags": null`; docker-registry on its own would differ in all three."""
    tenant, org = sandbox.tenants[0], new_org()
    realm = sandbox.registry_url + "/swr/auth/v2/registry/auth/"
    refused = requests.get(realm, params={"service": "dockyard", "scope": f"repository:{org}x/app:pull"},
                           auth=(tenant.access_id, tenant.login_key), timeout=10)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["message"] == "Image organization does not exist"
    catalog = requests.get(sandbox.registry_url + "/v2/_catalog", timeout=10,
                           headers={"Authorization": "Bearer " + sandbox.token(tenant, "registry:catalog:*")})
    assert catalog.status_code == 404
    token = sandbox.token(tenant, f"repository:{org}/empty:pull")
    tags = requests.get(f"{sandbox.registry_url}/v2/{org}/empty/tags/list", timeout=10,
                        headers={"Authorization": f"Bearer {token}"})
    assert tags.status_code == 200 and tags.json() == {"name": f"{org}/empty", "tags": None}


def test_a_repository_name_swr_refuses_is_name_invalid(sandbox, new_org, oci_image):
    """swr.md §4.2: a push whose repository breaks SWR's naming rules fails with `name invalid: 'repository'
    is invalid`. These names pass the OCI grammar, so docker-registry alone would take them (or, without
    push access in the token, answer 401)."""
    tenant, org = sandbox.tenants[0], new_org()
    long_name = f"{org}/{'a' * 129}"  # SWR: at most 128 characters; OCI: 255 for the whole name
    pushed = images.push(oci_image(), f"{_host(sandbox)}/{long_name}:v1", _creds(tenant))
    # skopeo asks first with a HEAD, whose answer has no body to show
    assert pushed.returncode != 0 and "400 (Bad Request)" in pushed.stderr, pushed.stderr
    token = sandbox.token(tenant, f"repository:{org}/app:push,pull")
    headers = {"Authorization": f"Bearer {token}"}
    for path in (f"/v2/{long_name}/tags/list", f"/v2/{org}/a_-b/manifests/v1"):
        answer = requests.get(sandbox.registry_url + path, headers=headers, timeout=10)
        error = answer.json()["errors"][0]
        assert answer.status_code == 400 and error["code"] == "NAME_INVALID", (path, answer.text)
        assert error["message"] == "'repository' is invalid" and error["detail"]
    head = requests.head(f"{sandbox.registry_url}/v2/{long_name}/manifests/v1", headers=headers, timeout=10)
    assert head.status_code == 400 and not head.content
    # A valid nested name passes the check (404: nothing pushed there yet).
    fine = requests.get(f"{sandbox.registry_url}/v2/{org}/app/manifests/v1", headers=headers, timeout=10)
    assert fine.status_code == 404


def test_basic_credentials_straight_to_the_registry_are_refused(sandbox, new_org):
    """swr.md §0/§6.1: SWR's registry takes only Bearer tokens; the login key sent as Basic to /v2 is a 401
    with the token challenge (Harbor's goharbor #9763 failure)."""
    tenant, org = sandbox.tenants[0], new_org()
    for path in ("/v2/", f"/v2/{org}/app/tags/list", f"/v2/{org}/app/manifests/v1"):
        answer = requests.get(sandbox.registry_url + path, auth=(tenant.access_id, tenant.login_key), timeout=10)
        assert answer.status_code == 401, (path, answer.status_code)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer realm=") and 'service="dockyard"' in \
            answer.headers["WWW-Authenticate"]
