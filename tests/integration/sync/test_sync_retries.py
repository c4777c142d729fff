"""Retries under connection resets: a TCP proxy between the sync and its source resets connections."""

from __future__ import annotations

import pytest

from tests.integration.sync.conftest import (
    aksk_auth,
    dest_digest,
    push_images,
    report_of,
    sandbox_host,
    sync_files,
    unique,
)


@pytest.fixture(scope="module")
def resettable(plain_source, tmp_path_factory):
    """Four images of 64 KiB layers in the plain source: {repo: digest}."""
    pushed = push_images(plain_source, tmp_path_factory, [f"flaky/app{i}:v1" for i in range(4)], layers=2,
                         layer_size=64 * 1024)
    return {ref.removesuffix(":v1"): digest for ref, digest in pushed.items()}


def _rules(proxy_host: str, dest: str, repos) -> dict:
    return {f"{proxy_host}/{repo}:v1": f"{dest}/{repo.rsplit('/', 1)[-1]}" for repo in repos}


def test_resets_are_retried_and_every_image_arrives(sandbox, plain_source, resettable, reset_proxy, tmp_path):
    proxy = reset_proxy(plain_source.port, resets=6, after=20 * 1024)
    org = unique("flaky")
    rules = _rules(proxy.host, f"{sandbox_host(sandbox)}/{org}", resettable)
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "--retries", "4", "--proc", "2", "-o", "json")
    report = report_of(result)
    assert result.returncode == 0 and report["copied"] == 4, result.stdout + result.stderr
    assert proxy.resets_done >= 3  # the proxy did break connections ...
    assert "retry" in result.stderr and "reset" in result.stderr.lower()  # ... and the sync said so
    for repo, digest in resettable.items():
        assert dest_digest(sandbox, f"{org}/{repo.rsplit('/', 1)[-1]}", "v1") == digest


def test_a_source_that_always_resets_fails_with_reasons_and_exit_1(sandbox, plain_source, resettable,
                                                                   reset_proxy, tmp_path):
    proxy = reset_proxy(plain_source.port, resets=None, after=8 * 1024)
    org = unique("broken")
    rules = _rules(proxy.host, f"{sandbox_host(sandbox)}/{org}", list(resettable)[:2])
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "--retries", "1", "-o", "json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    report = report_of(result)
    assert report["failed"] == 2 and report["copied"] == 0
    for image in report["images"]:
        assert image["status"] == "failed"
        assert proxy.host in image["reason"] and "reset" in image["reason"].lower(), image["reason"]
    assert "final pass over 2 failed image(s)" in result.stderr
    assert dest_digest(sandbox, f"{org}/app0", "v1") is None


def test_an_unresolvable_api_host_fails_at_once_naming_the_host_and_its_key(sandbox, plain_source, resettable,
                                                                          tmp_path):
    """A host name that does not resolve is a configuration problem: no retries (they took 24 s), and the
    message says which key sets it. `.invalid` never resolves (RFC 6761)."""
    key = sandbox_host(sandbox)
    auth = aksk_auth(sandbox, api="https://swr-api.eu-de.invalid")
    repo = next(iter(resettable))
    rules = {f"{plain_source.host}/{repo}:v1": f"{key}/{unique('nodns')}/app"}
    result = sync_files(tmp_path, auth, rules, "--retries", "3", "-o", "json")
    assert result.returncode == 1
    (image,) = report_of(result)["images"]
    reason = image["reason"]
    assert "swr-api.eu-de.invalid does not resolve" in reason and f"`api` in the auth file, under {key!r}" in reason
    assert "retry" not in result.stderr, result.stderr


def test_an_unresolvable_registry_host_fails_at_once_naming_the_host(sandbox, tmp_path):
    """The same for a registry: a source host that does not resolve is not retried, and the reason names it."""
    key = sandbox_host(sandbox)
    rules = {"registry.eu-de.invalid/app/web:v1": f"{key}/{unique('nodns')}/web"}
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "--retries", "3", "-o", "json")
    assert result.returncode == 1
    (image,) = report_of(result)["images"]
    assert "registry.eu-de.invalid does not resolve" in image["reason"], image["reason"]
    assert "retry" not in result.stderr and "final pass" not in result.stderr, result.stderr


def test_a_wrong_secret_key_is_reported_as_a_refused_signature(sandbox, plain_source, resettable, tmp_path):
    """The organization is not what failed: SWR's gateway refused the request's signature (APIGW.0301)."""
    key = sandbox_host(sandbox)
    auth = aksk_auth(sandbox, secret_key="not-the-secret-key-0123456789abcdef")
    org = unique("wrongsk")
    sandbox.create_organization(0, org)
    repo = next(iter(resettable))
    rules = {f"{plain_source.host}/{repo}:v1": f"{key}/{org}/app"}
    result = sync_files(tmp_path, auth, rules, "-o", "json")
    assert result.returncode == 1
    (image,) = report_of(result)["images"]
    reason = image["reason"]
    assert "refused the request's AK/SK signature (APIGW.0301" in reason, reason
    assert "refused to create organization" not in reason
