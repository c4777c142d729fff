"""The endpoint's mapping rules and bandwidth budget, --dry-run, the TTY display and the log file."""

from __future__ import annotations

import os
import pty
import subprocess
import time

import pytest

from tests import images
from tests.integration.sync.conftest import (
    SWR_BRIDGE,
    aksk_auth,
    dest_digest,
    push_image,
    push_images,
    report_of,
    run_sync,
    sandbox_host,
    sync_files,
    unique,
    write,
)


@pytest.fixture(scope="module")
def nested(plain_source, tmp_path_factory):
    """library/base/nginx:1 and library/base/redis:1 in the plain source (two path levels to flatten)."""
    names = ("nginx", "redis")
    pushed = push_images(plain_source, tmp_path_factory, [f"library/base/{name}:1" for name in names], layers=1)
    return dict(zip(names, pushed.values(), strict=True))


def test_mapping_rules_from_the_endpoint_config_flatten_destinations(sandbox, plain_source, nested, tmp_path):
    org = unique("flat")
    config = write(tmp_path / "bridge.yaml", {"mapping": [{"match": "library/**", "namespace": org,
                                                            "flatten": "all"}]})
    host = sandbox_host(sandbox)
    rules = {f"{plain_source.host}/library/base/{n}": f"{host}/library/base/{n}" for n in nested}
    result = sync_files(tmp_path, aksk_auth(sandbox), rules, "--bridge-config", config, "-o", "json",
                        images_file="images.yaml")
    report = report_of(result)
    assert result.returncode == 0 and report["copied"] == 2, result.stdout + result.stderr
    assert {i["destination"] for i in report["images"]} == {f"{host}/{org}/nginx:1", f"{host}/{org}/redis:1"}
    for name, digest in nested.items():
        assert dest_digest(sandbox, f"{org}/{name}", "1") == digest


def test_without_mapping_an_swr_reserved_organization_is_refused_before_anything_is_sent(sandbox, plain_source,
                                                                                        nested, tmp_path):
    rules = write(tmp_path / "images.yaml", {f"{plain_source.host}/library/base/nginx": f"{sandbox_host(sandbox)}/library/nginx"})
    result = run_sync("sync", "--auth", write(tmp_path / "auth.json", aksk_auth(sandbox)), "--images", rules)
    assert result.returncode == 2
    assert "images.yaml: key" in result.stderr and "reserved" in result.stderr and "Traceback" not in result.stderr


def test_the_bandwidth_budget_holds_the_transfer_back(sandbox, plain_source, tmp_path):
    for i in range(3):
        image = images.build_image(tmp_path / f"big{i}", "v1", layers=1, layer_size=256 * 1024)
        push_image(image, f"{plain_source.host}/heavy/app{i}:v1")
    auth = write(tmp_path / "auth.json", aksk_auth(sandbox))

    def timed(org: str, *extra) -> tuple[float, dict]:
        rules = {f"{plain_source.host}/heavy/app{i}:v1": f"{sandbox_host(sandbox)}/{org}/app{i}" for i in range(3)}
        start = time.monotonic()
        result = run_sync("sync", "--auth", auth, "--images", write(tmp_path / f"{org}.yaml", rules), "-o", "json",
                          *extra)
        return time.monotonic() - start, report_of(result)

    limited, report = timed(unique("slow"), "--bandwidth", "256KiB/s")
    assert report["copied"] == 3 and report["bytes"] > 3 * 256 * 1024
    # About 770 KiB at 256 KiB/s: the first 256 KiB go at once, the rest take at least two seconds.
    assert limited >= (report["bytes"] - 256 * 1024) / (256 * 1024)


def test_dry_run_shows_what_would_be_copied_and_changes_nothing(sandbox, plain_source, nested, tmp_path):
    org = unique("dry")
    host = sandbox_host(sandbox)
    rules = write(tmp_path / "images.yaml", {f"{plain_source.host}/library/base/nginx": f"{host}/{org}/nginx",
                                             f"{plain_source.host}/library/base/redis:1": f"{host}/{org}/redis"})
    result = run_sync("sync", "--auth", write(tmp_path / "auth.json", aksk_auth(sandbox)), "--images", rules,
                      "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "dry run: 2 would be copied, 0 up to date or skipped"
    assert f"  would copy {plain_source.host}/library/base/nginx:1 -> {host}/{org}/nginx:1" in lines
    assert sandbox.state.owned(sandbox.tenants[0], org) is None  # not even the organization was made


def test_a_terminal_gets_a_status_line_and_the_log_file_gets_every_image(sandbox, plain_source, nested, tmp_path):
    org = unique("tty")
    rules = write(tmp_path / "images.yaml", {f"{plain_source.host}/library/base/{n}": f"{sandbox_host(sandbox)}/{org}/{n}"
                                             for n in nested})
    log = tmp_path / "sync.log"
    leader, follower = pty.openpty()
    proc = subprocess.run([SWR_BRIDGE, "sync", "--auth", str(write(tmp_path / "auth.json", aksk_auth(sandbox))),
                           "--images", str(rules), "--log", str(log)], stderr=follower, stdout=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert proc.returncode == 0 and proc.stdout.startswith("copied 2")
    text = screen.decode()
    assert "\r\x1b[K" in text and "[2/2] copied 2  skipped 0  failed 0" in text
    assert "copied     " not in text  # on a terminal, images that went well get no line of their own
    logged = log.read_text()
    assert logged.count("copied     ") == 2 and f"{org}/nginx:1" in logged
