"""SWR takes at most 20 layers of a tenant at once (swr.md §4.5; the sandbox refuses the next with 503):
`--swr-layers` keeps a sync's uploads to one tenant under it, however large `--proc` is. Here the sandbox's
limit is turned down to 3 so that 12 workers can exceed it, and pacing (--max-rps) is off so that their
uploads overlap."""

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

REPOS, LAYERS, LAYER_SIZE, LIMIT = 4, 6, 2 * 1024 * 1024, 3


def _seed(source_url: str) -> None:
    """REPOS images of LAYERS distinct random layers each, straight through the registry API."""
    with requests.Session() as http:
        for r in range(REPOS):
            repo = f"seats/r{r}"
            layers = [put_blob(http, source_url, repo, images.layer_tar(LAYER_SIZE, f"l{i}.bin"), images.OCI_LAYER_TAR)
                      for i in range(LAYERS)]
            config = {"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]}}
            put_image(http, source_url, repo, "v1", layers, config)


@pytest.fixture(scope="module")
def seeded(plain_source):
    _seed(plain_source.url)
    return plain_source


def _sync(source, tmp_path, *flags):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=None, max_concurrent_layers=LIMIT)) as box:
        rules = {f"{source.host}/seats/r{r}": f"{sandbox_host(box)}/seats{os.getpid() % 10000}/r{r}"
                 for r in range(REPOS)}
        result = sync_files(tmp_path, aksk_auth(box), rules, "--proc", "12", "--max-rps", "0", "-o", "json", *flags,
                            timeout=600)
        return result, max(box.front.uploads.peak.values(), default=0)  # one tenant: its peak


def test_uploads_to_one_tenant_keep_to_swr_layers_whatever_proc_is(seeded, tmp_path):
    result, peak = _sync(seeded, tmp_path, "--swr-layers", str(LIMIT))
    report = report_of(result)
    assert result.returncode == 0 and (report["copied"], report["failed"]) == (REPOS, 0), result.stderr[-3000:]
    assert 1 <= peak <= LIMIT
    assert "layers of a tenant are pushed at once" not in result.stderr  # no refusal, no retry of one


def test_without_the_seats_the_same_sync_meets_swrs_refusals(seeded, tmp_path):
    """The control: with as many seats as workers, SWR's limit is what holds them back, with 503s."""
    result, peak = _sync(seeded, tmp_path, "--swr-layers", "12", "--retries", "6")
    report = report_of(result)
    assert peak == LIMIT
    assert "layers of a tenant are pushed at once" in result.stderr
    print(f"--swr-layers 12: exit {result.returncode}, {report['copied']} copied, {report['failed']} failed, "
          f"{result.stderr.count('layers of a tenant are pushed at once')} refusals in the log")
