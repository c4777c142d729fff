"""skopeo pushes through the endpoint into the sandbox and pulls back: digests survive, names are mapped."""

import json

import requests

from adapter.swr.signer import SdkHmacSha256Auth
from adapter.transfer.oci import sha256_digest
from tests.images import assert_converted, build_artifact, build_image, build_index, push, skopeo
from tests.integration.relay.helpers import direct_manifest


def pull_back(endpoint, tenant, name: str, tmp_path) -> str:
    """skopeo copies from the endpoint into a dir: layout and returns the digest of the manifest it got."""
    out = tmp_path / "pulled"
    result = skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds",
                    f"{tenant.access_id}:{tenant.sk}", f"docker://127.0.0.1:{endpoint.port}/{name}", f"dir:{out}")
    assert result.returncode == 0, result.stderr
    return sha256_digest((out / "manifest.json").read_bytes())


def assert_relayed(sbx, tenant, endpoint, tmp_path, image, name, dest):
    result = push(image, f"127.0.0.1:{endpoint.port}/{name}", f"{tenant.access_id}:{tenant.sk}")
    assert result.returncode == 0, result.stderr + endpoint.log_text()[-2000:]
    direct = direct_manifest(sbx, tenant, *dest.rsplit(":", 1))
    assert direct.status_code == 200
    assert sha256_digest(direct.content) == image.digest
    assert direct.content == image.manifest
    assert pull_back(endpoint, tenant, name, tmp_path) == image.digest


def test_multi_layer_image_lands_flattened_in_created_organization(sbx, tenant, endpoint, tmp_path):
    image = build_image(tmp_path / "img", "v1", layers=4)
    assert_relayed(sbx, tenant, endpoint, tmp_path, image, "library/tools/app:v1", "relay-flat/app:v1")
    with requests.Session() as session:
        session.auth = SdkHmacSha256Auth(tenant.ak, tenant.sk)
        org = session.get(f"{sbx.api_url}/v2/manage/namespaces/relay-flat", timeout=10)
    assert org.status_code == 200 and org.json()["name"] == "relay-flat"


def test_oci_index_with_two_platforms_lands_as_a_docker_manifest_list(sbx, tenant, endpoint, tmp_path):
    """SWR refuses the OCI index; the endpoint stores it as a Docker manifest list over the same blobs."""
    image = build_index(tmp_path / "idx", "multi")
    result = push(image, f"127.0.0.1:{endpoint.port}/library/multi:multi", f"{tenant.access_id}:{tenant.sk}")
    assert result.returncode == 0, result.stderr + endpoint.log_text()[-2000:]
    stored = direct_manifest(sbx, tenant, "relay-flat/multi", "multi")
    assert stored.status_code == 200 and sha256_digest(stored.content) != image.digest
    assert_converted(stored.content, image, lambda d: direct_manifest(sbx, tenant, "relay-flat/multi", d).content)
    for child in image.children:  # the OCI members skopeo pushed first stay too
        assert direct_manifest(sbx, tenant, "relay-flat/multi", child.digest).status_code == 200


def test_docker_manifest_list(sbx, tenant, endpoint, tmp_path):
    image = build_index(tmp_path / "list", "list", docker=True)
    assert_relayed(sbx, tenant, endpoint, tmp_path, image, "library/dlist:list", "relay-flat/dlist:list")


def test_oci_artifact_with_subject(sbx, tenant, endpoint, tmp_path):
    subject = build_image(tmp_path / "subj", "base", layers=1)
    push_result = push(subject, f"127.0.0.1:{endpoint.port}/library/signed:base", f"{tenant.access_id}:{tenant.sk}")
    assert push_result.returncode == 0, push_result.stderr
    artifact = build_artifact(tmp_path / "art", "sbom", subject)
    assert_relayed(sbx, tenant, endpoint, tmp_path, artifact, "library/signed:sbom", "relay-flat/signed:sbom")
    stored = json.loads(direct_manifest(sbx, tenant, "relay-flat/signed", "sbom").content)
    assert stored["subject"]["digest"] == subject.digest
