"""SWR allows a tenant 20 registry requests per second (503 + Retry-After above it, swr.md §4.5): a sync of
200 images with 16 workers keeps under it, as the sandbox measures it, and loses no image."""

from __future__ import annotations

import os

import pytest
import requests

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from tests import images
from tests.integration.sync.conftest import (
    aksk_auth,
    put_blob,
    put_image,
    report_of,
    sandbox_host,
    sync_files,
)

REPOS, TAGS, LIMIT = 10, 20, 20


def _seed(source_url: str) -> None:
    """REPOS repositories of TAGS small images each (one shared layer, a config of their own), straight
    through the registry API: skopeo would take minutes for 200 images."""
    layer = images.layer_tar(1024, "data.bin")
    with requests.Session() as http:
        for r in range(REPOS):
            repo = f"rate/r{r}"
            shared = put_blob(http, source_url, repo, layer, images.OCI_LAYER_TAR)
            for t in range(TAGS):
                config = {"architecture": "amd64", "os": "linux", "config": {"Env": [f"N={r}-{t}"]},
                          "rootfs": {"type": "layers", "diff_ids": [shared["digest"]]}}
                put_image(http, source_url, repo, f"t{t}", [shared], config)


@pytest.fixture(scope="module")
def seeded(plain_source):
    _seed(plain_source.url)
    return plain_source


def _peak(times: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds."""
    peak, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= window:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def test_200_images_at_proc_16_keep_under_the_tenants_rate(seeded, tmp_path):
    plain_source = seeded
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=LIMIT)) as box:
        rules = {f"{plain_source.host}/rate/r{r}": f"{sandbox_host(box)}/rate{os.getpid() % 10000}/r{r}"
                 for r in range(REPOS)}
        result = sync_files(tmp_path, aksk_auth(box), rules, "--proc", "16", "-o", "json", timeout=600)
        report = report_of(result)
        arrivals = [a for a in box.front.rates.arrivals if a[1] == box.tenants[0].access_id]
    assert result.returncode == 0, result.stderr[-3000:]
    assert (report["copied"], report["failed"]) == (REPOS * TAGS, 0)
    times = [a[0] for a in arrivals]
    seconds = times[-1] - times[0]
    peak, peak2, refused = _peak(times, 1.0), _peak(times, 2.0), sum(1 for a in arrivals if not a[2])
    print(f"{len(times)} requests at the sandbox in {seconds:.1f}s: {len(times) / seconds:.1f}/s on average, "
          f"at most {peak} in any second and {peak2} in any two, {refused} refused with 503")
    # The rate over the run and over every two-second window. A single second also depends on how the
    # sandbox's threads get the CPU: under a load average of 6 on this 2-core machine its busiest second
    # held 22 or 23 arrivals of requests sent at 18/s.
    assert len(times) / seconds <= LIMIT * 1.1
    assert peak2 <= 2 * LIMIT * 1.1


def test_a_sync_faster_than_swr_allows_waits_out_its_503s(seeded, tmp_path):
    """--max-rps above the tenant's rate: SWR's 503s come, every worker waits the Retry-After, nothing fails."""
    plain_source = seeded
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=10)) as box:
        rules = {f"{plain_source.host}/rate/r0": f"{sandbox_host(box)}/burst{os.getpid() % 10000}/r0"}
        result = sync_files(tmp_path, aksk_auth(box), rules, "--proc", "8", "--max-rps", "100", "--retries", "6",
                            "-o", "json", timeout=600)
        refused = sum(1 for a in box.front.rates.arrivals if not a[2])
    report = report_of(result)
    assert result.returncode == 0 and (report["copied"], report["failed"]) == (TAGS, 0), result.stderr[-3000:]
    assert refused > 0 and "503 TOOMANYREQUESTS" in result.stderr  # the retries say why
