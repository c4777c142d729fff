"""Manifests (types, blobs, platform filters as image-syncer matches them) and the progress output."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.sync import manifests
from adapter.sync.engine import Result
from adapter.sync.errors import CopyError
from adapter.sync.progress import Reporter, line_for, render, summary, to_json


def index_of(*platforms) -> manifests.Manifest:
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": [
        {"mediaType": manifests.OCI_MANIFEST, "digest": f"sha256:{i:064x}", "size": 1, "platform": p}
        for i, p in enumerate(platforms)]}
    return manifests.load(json.dumps(doc).encode(), None, "x")


AMD = {"os": "linux", "architecture": "amd64"}
ARM7 = {"os": "linux", "architecture": "arm", "variant": "v7"}
WIN = {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763"}


def test_filter_index_keeps_bytes_when_all_match_and_rewrites_otherwise():
    index = index_of(AMD, ARM7, WIN)
    assert manifests.filter_index(index, (), ("amd64", "arm")) is index  # byte-exact, same digest
    linux = manifests.filter_index(index, ("linux",), ())
    assert [m["platform"] for m in linux.children] == [AMD, ARM7] and linux.digest != index.digest
    assert json.loads(linux.body)["mediaType"] == manifests.OCI_INDEX
    assert [m["platform"] for m in manifests.filter_index(index, (), ("arm:v7",)).children] == [ARM7]
    assert manifests.filter_index(index, (), ("arm:v6",)) is None
    assert [m["platform"] for m in manifests.filter_index(index, ("windows:10.0.17763",), ()).children] == [WIN]


def test_a_platform_without_a_field_is_never_filtered_by_it():
    assert manifests.platform_matches({"architecture": "amd64"}, ("linux",), ())
    assert manifests.platform_matches(None, ("linux",), ("arm64",))
    assert not manifests.platform_matches(AMD, (), ("arm64",))


def test_load_media_types_and_blobs():
    foreign = {"mediaType": manifests.FOREIGN[0], "digest": "sha256:" + "f" * 64, "size": 9}
    with_urls = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "e" * 64, "size": 9,
                 "urls": ["https://example.test/layer"]}
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "d" * 64, "size": 9}
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2}
    body = json.dumps({"schemaVersion": 2, "config": config, "layers": [foreign, with_urls, layer]}).encode()
    image = manifests.load(body, manifests.DOCKER_MANIFEST, "x")
    assert image.media_type == manifests.DOCKER_MANIFEST and image.blobs == [config, layer]
    assert manifests.load(body, "application/json", "x").media_type == manifests.OCI_MANIFEST
    with pytest.raises(CopyError, match="schema 1"):
        manifests.load(b'{"schemaVersion": 1, "fsLayers": []}', None, "old")
    with pytest.raises(CopyError, match="not valid JSON"):
        manifests.load(b"<html>", "text/html", "x")
    with pytest.raises(CopyError, match="unsupported manifest type"):
        manifests.load(b'{"mediaType": "application/vnd.cncf.helm.chart"}', None, "x")


def results():
    copied = Result("s/a:v1", "d/o/a:v1", "copied", digest="sha256:" + "1" * 64, bytes=2048,
                    blobs={"uploaded": 2, "mounted": 1, "existing": 0})
    return [copied, Result("s/a:v2", "d/o/a:v2", "skipped", "up to date"),
            Result("s/b:v1", "d/o/b:v1", "failed", "put manifest: 400 MANIFEST_INVALID: bad")]


def test_summary_report_and_text():
    report = summary(results(), 1.2345)
    assert (report["copied"], report["skipped"], report["failed"], report["bytes"]) == (1, 1, 1, 2048)
    assert report["blobs"] == {"uploaded": 2, "mounted": 1, "existing": 0} and report["seconds"] == 1.234
    assert report["images"][2] == {"source": "s/b:v1", "destination": "d/o/b:v1", "status": "failed",
                                   "reason": "put manifest: 400 MANIFEST_INVALID: bad", "digest": "", "bytes": 0,
                                   "converted": False}
    assert report["converted"] == []
    text = render(report).splitlines()
    assert text[0].startswith("copied 1, skipped 1, failed 1 (2.0 KiB, blobs 2 uploaded, 1 mounted, 0 present)")
    assert text[1] == "  failed s/b:v1 -> d/o/b:v1: put manifest: 400 MANIFEST_INVALID: bad"
    assert line_for(results()[1]) == "skipped    s/a:v2 -> d/o/a:v2  (up to date)"


def test_plain_output_has_a_line_per_image_and_the_log_file_timestamps():
    out, log = io.StringIO(), io.StringIO()
    reporter = Reporter(out, log=log, tty=False)
    reporter.start(2)
    reporter.planned(3)
    for result in results():
        reporter.finished(result)
    reporter.listed()
    reporter.retry("blob x", "reset", 1, 2)
    reporter.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("listing the tags of 2 rule(s)") and lines[1].startswith("copied     s/a:v1 -> d/o/a:v1")
    assert lines[-2:] == ["3 image(s) to check", "retry      blob x: reset (retry 1 of 2)"]
    assert "\r" not in out.getvalue()
    assert log.getvalue().count("\n") == 6 and log.getvalue()[:2] == "20"


def test_a_terminal_gets_one_status_line_and_failures():
    out = io.StringIO()
    reporter = Reporter(out, tty=True, interval=0.01)
    reporter.start(1)
    reporter.planned(3)
    assert reporter.status().startswith("[0/3+]")  # more may come while tags are still being listed
    for result in results():
        reporter.finished(result)
    reporter.listed()
    reporter.add_bytes(4096)
    reporter.close()
    screen = out.getvalue()
    assert "copied     s/a:v1" not in screen and "FAILED     s/b:v1 -> d/o/b:v1" in screen
    last = screen.rstrip("\n").split("\r\x1b[K")[-1]  # what stays on screen at the end
    assert last.startswith("[3/3] copied 1  skipped 1  failed 1  |  4.0 KiB  ")


@given(st.lists(st.fixed_dictionaries({"source": st.text(max_size=30), "destination": st.text(max_size=30),
                                       "status": st.sampled_from(["copied", "skipped", "failed"]),
                                       "reason": st.text(max_size=30), "bytes": st.integers(0, 2**40)}),
                max_size=5))
def test_the_json_report_parses_back_with_one_image_per_line(images):
    report = {"dry_run": False, "copied": 1, "failed": 0, "blobs": {"uploaded": 2}, "seconds": 1.5, "images": images}
    text = to_json(report)
    assert json.loads(text) == report
    assert sum(1 for line in text.splitlines() if line.startswith("    {")) == len(images)
