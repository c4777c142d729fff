"""SWR's blacklist: the sandbox's trigger and answer, and the transfer core's hold (nothing sent meanwhile)."""

from __future__ import annotations

import logging

import pytest

from adapter.sandbox.blacklist import WINDOW, Blacklist
from adapter.sync.errors import CopyError
from adapter.sync.remote import Remote
from adapter.transfer.blacklist import BLACKLIST_MESSAGE, Holds, is_blacklisted
from adapter.transfer.client import RegistryClient, TransferError
from tests.unit.sync.test_sync_transfer_client import BEARER, Scripted, response

LISTED = b'{"errors": [{"code": "DENIED", "message": "Not allow to login, upload or download image"}]}'


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_refusal_is_known_by_swr_words_on_a_401_or_403_only():
    assert is_blacklisted(403, LISTED) and is_blacklisted(401, b"denied: NOT ALLOW TO LOGIN, upload or download image")
    assert not is_blacklisted(403, b'{"errors": [{"code": "DENIED", "message": "no"}]}')
    assert not is_blacklisted(503, LISTED) and not is_blacklisted(200, LISTED) and not is_blacklisted(403, b"")


def test_a_hold_lasts_its_seconds_and_reports_its_end_once():
    clock = Clock()
    holds = Holds(60, clock=clock)
    assert holds.left("u") is None and holds.start("u") and not holds.start("u")  # the second is no change
    clock.now += 59
    assert holds.left("u") == pytest.approx(1) and holds.left("other") is None
    clock.now += 1
    assert holds.left("u") == 0.0 and holds.left("u") is None  # ended: said once, then forgotten
    assert holds.start("u")  # listed again: a new hold


def test_the_sandbox_lists_a_tenant_past_its_logins_per_minute_for_its_seconds():
    clock = Clock()
    listed = Blacklist(3, 1800, clock=clock)
    assert [listed.login("t") for _ in range(3)] == [None] * 3 and listed.login("other") is None
    assert listed.login("t") == 1800 and listed.refused == {"t": 1}  # the 4th within the minute
    clock.now += 1799
    assert listed.blocked("t") == pytest.approx(1) and listed.login("t") == pytest.approx(1)
    assert listed.refused["t"] == 3
    clock.now += 1
    assert listed.blocked("t") is None and listed.login("t") is None  # over, and the count started afresh
    clock.now += WINDOW  # logins spread over more than a minute never add up
    assert [listed.login("t") for _ in range(3)] == [None] * 3
    clock.now += WINDOW + 1
    assert [listed.login("t") for _ in range(3)] == [None] * 3
    listed.block("u", 5)
    assert listed.blocked("u") == pytest.approx(5)
    listed.lift("u")
    assert listed.blocked("u") is None
    never = Blacklist(None)
    assert all(never.login("t") is None for _ in range(10000))


def _swr(listed: list[bool]):
    """A Bearer registry whose token service answers SWR's blacklist refusal while listed[0] is true."""
    def answer(method, url, kw):
        if url.endswith("/v2/"):
            return response(401, BEARER)
        if "/token" in url:
            return response(403, body=LISTED) if listed[0] else response(200, body=b'{"token": "T"}')
        return response(403, body=LISTED) if listed[0] else response(200)
    return Scripted(answer)


def test_the_client_holds_a_listed_account_and_sends_nothing_for_it_until_the_hold_ends(caplog):
    listed, clock = [True], Clock()
    session = _swr(listed)
    client = RegistryClient("http://reg.test", session, name="SWR", blacklist_hold=600)
    client.holds.clock = clock
    seen = []
    client.on_blacklist = lambda user, held: (seen.append((user, held)), RegistryClient.on_blacklist(client, user, held))
    with caplog.at_level(logging.WARNING, logger="adapter.transfer.client"):
        with pytest.raises(TransferError) as err:
            client.request(("eu-de@AK", "secret-login-key"), "HEAD", "/v2/o/a/blobs/x", ["repository:o/a:pull"])
    assert err.value.status == 429 and err.value.code == "TOOMANYREQUESTS" and not err.value.transient
    assert BLACKLIST_MESSAGE in err.value.message and "eu-de@AK" in err.value.message
    assert err.value.retry_after == pytest.approx(600) and seen == [("eu-de@AK", True)]
    sent = len(session.calls)
    for call in (lambda: client.request(("eu-de@AK", "k"), "GET", "/v2/o/b/tags/list", ["repository:o/b:pull"]),
                 lambda: client.login(("eu-de@AK", "k")), lambda: client.token(("eu-de@AK", "k"), ["x"])):
        with pytest.raises(TransferError, match="in 10 min"):
            call()
    assert len(session.calls) == sent  # a hold covers requests, logins and token requests
    listed[0] = False
    assert client.request(("other", "k"), "HEAD", "/v2/o/a/blobs/x", ["repository:o/a:pull"]).status_code == 200
    clock.now += 600
    assert client.request(("eu-de@AK", "k"), "HEAD", "/v2/o/a/blobs/x", ["repository:o/a:pull"]).status_code == 200
    assert seen == [("eu-de@AK", True), ("eu-de@AK", False)]
    assert "secret-login-key" not in caplog.text and "blacklisted eu-de@AK" in caplog.text


def test_a_registry_refusal_of_an_upload_is_held_too_and_a_zero_hold_holds_nothing():
    listed = [False]
    session = _swr(listed)
    client = RegistryClient("http://reg.test", session, blacklist_hold=0)
    client.token(("u", "k"), ["repository:o/a:push"])
    listed[0] = True
    with pytest.raises(TransferError, match="try again in 30 minutes"):
        client.request(("u", "k"), "PATCH", "/v2/o/a/blobs/uploads/1", ["repository:o/a:push"], stream=False,
                       replayable=False)
    listed[0] = False
    assert client.request(("u", "k"), "HEAD", "/v2/o/a/blobs/x", ["repository:o/a:pull"]).status_code == 200


def test_a_sync_call_of_a_listed_account_fails_at_once_and_is_not_retried():
    client = RegistryClient("http://reg.test", _swr([True]), name="reg.test")
    remote = Remote("reg.test", client, None)
    remote.creds = ("eu-de@AK", "k")
    with pytest.raises(CopyError) as err:
        remote.call("HEAD", "o/a", "manifests/v1", "pull", "check reg.test/o/a:v1")
    assert not err.value.retryable and BLACKLIST_MESSAGE in str(err.value)
