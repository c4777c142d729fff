"""OCI -> Docker schema 2 conversion, and the limits both data paths keep (sizes, Retry-After, pacing, rates)."""

from __future__ import annotations

import json

import pytest

from adapter.sandbox.front import TenantRate
from adapter.transfer import convert
from adapter.transfer.limits import Pacer, layer_too_large, parse_size

CONFIG = {"mediaType": convert.OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 100}
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "a" * 64, "size": 10,
         "annotations": {"x": "y"}}


def _manifest(**over) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": convert.OCI_MANIFEST, "config": CONFIG, "layers": [LAYER],
           "annotations": {"org.opencontainers.image.created": "now"}}
    doc.update(over)
    return json.dumps(doc).encode()


def test_an_oci_manifest_becomes_a_docker_one_over_the_same_blobs():
    doc = json.loads(convert.docker_manifest(_manifest()))
    assert doc["mediaType"] == convert.DOCKER_MANIFEST and "annotations" not in doc
    assert doc["config"] == {"mediaType": convert.DOCKER_CONFIG, "size": 100, "digest": CONFIG["digest"]}
    assert doc["layers"] == [{"mediaType": convert.DOCKER_LAYER, "size": 10, "digest": LAYER["digest"]}]
    assert convert.docker_manifest(_manifest()) == convert.docker_manifest(_manifest())  # same bytes every time


def test_what_has_no_docker_form_is_refused_with_the_reason():
    artifact = _manifest(config={**CONFIG, "mediaType": "application/vnd.oci.empty.v1+json"})
    with pytest.raises(convert.ConversionError, match="not an image config"):
        convert.docker_manifest(artifact)
    zstd = _manifest(layers=[{**LAYER, "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd"}])
    with pytest.raises(convert.ConversionError, match="no Docker schema 2 equivalent"):
        convert.docker_manifest(zstd)
    with pytest.raises(convert.ConversionError, match="not valid JSON"):
        convert.docker_manifest(b"{")


def test_an_index_becomes_a_list_without_its_attestations():
    amd, arm, proof = _manifest(), _manifest(layers=[]), _manifest(layers=[{**LAYER, "mediaType": convert.DOCKER_LAYER}])
    bodies = {convert.sha256_digest(b): b for b in (amd, arm, proof)}
    entries = [{"mediaType": convert.OCI_MANIFEST, "digest": convert.sha256_digest(amd), "size": len(amd),
                "platform": {"os": "linux", "architecture": "amd64"}},
               {"mediaType": convert.OCI_MANIFEST, "digest": convert.sha256_digest(arm), "size": len(arm),
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8", "unknown-key": 1}},
               {"mediaType": convert.OCI_MANIFEST, "digest": convert.sha256_digest(proof), "size": len(proof),
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]
    index = json.dumps({"schemaVersion": 2, "mediaType": convert.OCI_INDEX, "manifests": entries}).encode()
    assert convert.is_oci_index(index) and not convert.is_oci_index(amd)
    image = convert.convert(index, convert.OCI_INDEX, bodies.__getitem__)
    doc = json.loads(image.body)
    assert image.media_type == convert.DOCKER_LIST and image.dropped == 1 and len(image.children) == 2
    assert [m["platform"] for m in doc["manifests"]] == [{"os": "linux", "architecture": "amd64"},
                                                         {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    assert [m["digest"] for m in doc["manifests"]] == [convert.sha256_digest(c) for c in image.children]
    with pytest.raises(convert.ConversionError, match="came back with digest"):
        convert.docker_list(index, lambda d: b"{}")
    only = json.dumps({"schemaVersion": 2, "mediaType": convert.OCI_INDEX, "manifests": entries[2:]}).encode()
    with pytest.raises(convert.ConversionError, match="only attestations"):
        convert.docker_list(only, bodies.__getitem__)
    docker = convert.convert(b"{}", convert.DOCKER_LIST, bodies.__getitem__)
    assert docker.body == b"{}"  # Docker types stay as they are


def test_sizes_and_the_layer_limit():
    assert parse_size("10GB") == 10 * 1000**3 and parse_size("64KiB") == 65536 and parse_size("4096") == 4096
    with pytest.raises(ValueError, match="not like"):
        parse_size("ten")
    assert layer_too_large(10, 10) is None and layer_too_large(10, None) is None
    assert "11 bytes, over SWR's limit of 10 bytes" in layer_too_large(11, 10)


def test_the_pacer_spaces_requests_and_pauses_for_retry_after():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds
    pacer = Pacer(10, clock=lambda: now[0], sleep=sleep, margin=1.0)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.1, 0.1]
    pacer.pause(2.0)
    pacer.wait()
    assert slept[-1] == 2.0
    pacer.pause(10_000)  # a Retry-After is capped
    pacer.wait()
    assert slept[-1] == 300.0
    Pacer(None).wait()  # no rate: never waits


def test_the_sandbox_admits_a_tenants_rate_in_any_second():
    now = [0.0]
    rates = TenantRate(3, clock=lambda: now[0])
    assert [rates.admit("a") for _ in range(3)] == [None] * 3
    assert rates.admit("a") == pytest.approx(1.0) and rates.admit("b") is None  # tenants apart
    now[0] = 1.0
    assert rates.admit("a") is None
    assert [a[2] for a in rates.arrivals] == [True, True, True, False, True, True]
