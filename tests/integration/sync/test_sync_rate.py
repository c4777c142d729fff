"""SWR allows a tenant 20 registry requests per second (503 + Retry-After above it, swr.md §4.5): a sync of
200 images with 16 workers keeps under it, as the sandbox measures it, and loses no image."""

from __future__ import annotations

import hashlib
import json
import os

import requests

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests import images
from tests.integration.sync.conftest import aksk_auth, report_of, run_sync, sandbox_host, write

REPOS, TAGS, LIMIT = 10, 20, 20


def _seed(source_url: str) -> None:
    """REPOS repositories of TAGS small images each (one shared layer, a config of their own), straight
    through the registry API: skopeo would take minutes for 200 images."""
    layer = images.layer_tar(1024, "data.bin")
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    with requests.Session() as http:
        def blob(repo: str, data: bytes) -> dict:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            start = http.post(f"{source_url}/v2/{repo}/blobs/uploads/", timeout=10)
            done = http.put(start.headers["Location"], params={"digest": digest}, data=data, timeout=10)
            assert done.status_code == 201, done.text
            return {"digest": digest, "size": len(data)}

        for r in range(REPOS):
            repo = f"rate/r{r}"
            shared = dict(blob(repo, layer), mediaType=images.OCI_LAYER_TAR)
            assert shared["digest"] == layer_digest
            for t in range(TAGS):
                config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": [f"N={r}-{t}"]},
                                     "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
                doc = {"schemaVersion": 2, "mediaType": images.OCI_MANIFEST,
                       "config": dict(blob(repo, config), mediaType=images.OCI_CONFIG), "layers": [shared]}
                put = http.put(f"{source_url}/v2/{repo}/manifests/t{t}", data=json.dumps(doc), timeout=10,
                               headers={"Content-Type": images.OCI_MANIFEST})
                assert put.status_code == 201, put.text


def _peak(times: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds."""
    peak, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= window:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def test_200_images_at_proc_16_keep_under_the_tenants_rate(plain_source, tmp_path):
    _seed(plain_source.url)
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=LIMIT)) as box:
        rules = {f"{plain_source.host}/rate/r{r}": f"{sandbox_host(box)}/rate{os.getpid() % 10000}/r{r}"
                 for r in range(REPOS)}
        result = run_sync("sync", "--auth", write(tmp_path / "auth.json", aksk_auth(box)),
                          "--images", write(tmp_path / "images.json", rules), "--proc", "16", "-o", "json",
                          timeout=600)
        report = report_of(result)
        arrivals = [a for a in box.front.rates.arrivals if a[1] == box.tenants[0].access_id]
    assert result.returncode == 0, result.stderr[-3000:]
    assert (report["copied"], report["failed"]) == (REPOS * TAGS, 0)
    times = [a[0] for a in arrivals]
    seconds = times[-1] - times[0]
    peak, refused = _peak(times, 1.0), sum(1 for a in arrivals if not a[2])
    print(f"{len(times)} requests at the sandbox in {seconds:.1f}s: {len(times) / seconds:.1f}/s on average, "
          f"at most {peak} in any second, {refused} refused with 503")
    assert len(times) / seconds <= LIMIT * 1.1
    assert peak <= LIMIT * 1.1
