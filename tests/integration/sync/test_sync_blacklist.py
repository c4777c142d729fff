"""A sync into an account that SWR's blacklist holds (swr.md §4.5) stops at once, with SWR's words and when to try
again, instead of spending its retries on requests that could only keep the account listed."""

from __future__ import annotations

import pytest

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from adapter.transfer.blacklist import BLACKLIST_MESSAGE
from tests.integration.sync.conftest import aksk_auth, push_images, report_of, sandbox_host, sync_files

REPOS = 4


@pytest.fixture(scope="module")
def small_images(plain_source, tmp_path_factory):
    return push_images(plain_source, tmp_path_factory, [f"listed/app{i}:v1" for i in range(REPOS)], layers=1,
                       layer_size=16 * 1024)


def test_a_sync_into_a_listed_account_fails_fast_and_sends_nothing_more(plain_source, small_images, tmp_path):
    with Sandbox(tmp_path / "sbx", strict=Strictness(push_rate=None)) as box:
        tenant = box.tenants[0]
        box.blacklist.block(tenant.access_id)
        rules = {f"{plain_source.host}/listed/app{i}:v1": f"{sandbox_host(box)}/listed{i % 2}/app{i}"
                 for i in range(REPOS)}
        result = sync_files(tmp_path, aksk_auth(box), rules, "--proc", "2", "--retries", "3", "-o", "json",
                            timeout=300)
        report = report_of(result)
        assert result.returncode == 1 and (report["copied"], report["failed"]) == (0, REPOS), result.stderr[-3000:]
        assert BLACKLIST_MESSAGE in result.stdout + result.stderr and "Traceback" not in result.stderr
        assert "nothing more is sent for this account until" in result.stdout + result.stderr
        # Each of the 2 workers met the refusal at most once before the hold; no retry reached SWR.
        assert 1 <= box.blacklist.refused[tenant.access_id] <= 2 * 2
        assert tenant.sk not in result.stderr + result.stdout and tenant.login_key not in result.stderr
