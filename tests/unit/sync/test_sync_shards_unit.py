"""Shard selection: stable across processes and machines, disjoint, and even enough; the env of an Indexed Job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adapter.sync.errors import InputError
from adapter.sync.shards import Shard, merge, parse_shard, shard_from

NAMES = [f"registry.example.com/team{i % 7}/app{i}" for i in range(2000)]


def test_every_name_has_exactly_one_shard():
    for count in (1, 2, 3, 8):
        owners = [[i for i in range(count) if Shard(i, count).owns(n)] for n in NAMES]
        assert all(len(o) == 1 for o in owners)


def test_shards_are_even_enough():
    sizes = [sum(Shard(i, 4).owns(n) for n in NAMES) for i in range(4)]
    assert min(sizes) > 400 and max(sizes) < 600, sizes


def test_the_hash_does_not_depend_on_the_process():
    # Python's hash() of a str changes per process (PYTHONHASHSEED); ours must not.
    code = ("from adapter.sync.shards import Shard; "
            "print([i for i in range(5) for n in ['docker.io/library/nginx', 'q.io/a/b'] if Shard(i, 5).owns(n)])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    # and pinned, so that another release or machine splits a file the same way
    assert [i for i in range(5) if Shard(i, 5).owns("docker.io/library/nginx")] == [PINNED]


PINNED = int.from_bytes(__import__("hashlib").sha256(b"docker.io/library/nginx").digest()[:8], "big") % 5


@pytest.mark.parametrize("text,message", [("1", "INDEX/COUNT"), ("a/2", "INDEX/COUNT"), ("2/2", "below COUNT"),
                                          ("0/0", "COUNT must be"), ("-1/2", "INDEX/COUNT")])
def test_bad_shards_are_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_shard(text)


def test_the_env_of_an_indexed_job():
    assert shard_from(None, {}) is None
    assert shard_from(None, {"JOB_COMPLETION_INDEX": "3", "SYNC_SHARD_COUNT": "4"}) == Shard(3, 4)
    assert shard_from("0/2", {"JOB_COMPLETION_INDEX": "3", "SYNC_SHARD_COUNT": "4"}) == Shard(0, 2)
    with pytest.raises(InputError, match="SYNC_SHARD_COUNT"):
        shard_from(None, {"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(InputError, match="JOB_COMPLETION_INDEX"):
        shard_from(None, {"SYNC_SHARD_COUNT": "3"})
    with pytest.raises(InputError, match="below COUNT"):
        shard_from(None, {"JOB_COMPLETION_INDEX": "4", "SYNC_SHARD_COUNT": "4"})


def test_merge_sums_and_finds_overlap():
    image = {"source": "a/b:1", "destination": "s/o/b:1", "status": "copied", "reason": "", "digest": "", "bytes": 5}
    one = {"dry_run": False, "copied": 1, "skipped": 0, "failed": 0, "planned": 0, "bytes": 5,
           "blobs": {"uploaded": 2, "mounted": 0, "existing": 1}, "seconds": 3.0, "images": [image]}
    merged = merge([("r0", one), ("ok", {"a/c:1": "s/o/c:1"}), ("r1", one)])
    assert merged["copied"] == 2 and merged["bytes"] == 10 and merged["blobs"]["uploaded"] == 4
    assert merged["seconds"] == 3.0 and merged["done"] == 3
    assert merged["overlap"] == [{"source": "a/b:1", "destination": "s/o/b:1", "files": ["r0", "r1"]}]
    with pytest.raises(InputError, match="bad"):
        merge([("bad", {"x": 1})])


def test_merge_keeps_each_shards_warnings_under_its_file():
    report = {"dry_run": False, "copied": 0, "skipped": 0, "failed": 0, "planned": 0, "bytes": 0, "blobs": {},
              "seconds": 1, "warnings": ["auth.yaml: key 'h'.email: unknown field, ignored"], "images": []}
    merged = merge([("shard-0.json", report), ("shard-1.json", {**report, "warnings": []})])
    assert merged["warnings"] == ["shard-0.json: auth.yaml: key 'h'.email: unknown field, ignored"]


@pytest.mark.parametrize(("change", "named"), [
    ({"copied": "12"}, "'copied' is not a whole number"),
    ({"bytes": 1.5}, "'bytes' is not a whole number"),
    ({"blobs": {"uploaded": "x"}}, "'blobs' holds a count"),
    ({"warnings": "one"}, "'warnings' is not a list"),
    ({"images": [{"source": "a"}]}, "lacks one of source, destination"),
    # Found by the input audit: a ValueError traceback, or a report that merged as if nothing were wrong.
    ({"done": "x"}, "'done' is not a whole number"),
    ({"seconds": float("nan")}, "'seconds' is not a number"),
    ({"dry_run": "no"}, "'dry_run' is not true or false"),
])
def test_a_malformed_report_is_named_not_a_traceback(change, named):
    report = {"dry_run": False, "copied": 0, "skipped": 0, "failed": 0, "planned": 0, "bytes": 0, "blobs": {},
              "seconds": 1, "images": []}
    with pytest.raises(InputError, match=named) as caught:
        merge([("shard-3.json", {**report, **change})])
    assert "shard-3.json" in str(caught.value)


@pytest.mark.parametrize("doc", [{"a/b:1": [1]}, {"a/b:1": [["s/o/b:1"]]}, {1: "s/o/b:1"}, {"a/b:1": None}])
def test_a_success_file_holds_only_sources_and_destinations(doc):
    # Was merged: a destination list of lists (a YAML alias) was a TypeError traceback, an int a bogus image.
    with pytest.raises(InputError, match="neither a `sync -o json` report nor an --output-success-images file"):
        merge([("ok.yaml", doc)])


def test_bounded_and_ordered_draw_items_only_as_fast_as_the_work_goes():
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from adapter.sync.engine import bounded, ordered

    drawn, running, peak, lock = [], [0], [0], threading.Lock()

    def items():
        for i in range(40):
            drawn.append(i)
            yield i

    def work(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            ahead = len(drawn) - i  # items drawn but not yet this far
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        return i * 2, ahead

    with ThreadPoolExecutor(8) as pool:
        results = [f.result() for f in bounded(pool, work, items(), 3)]
        assert [r for r, _ in results] == [i * 2 for i in range(40)] and peak[0] <= 3
        drawn.clear()
        found = list(ordered(pool, work, items(), 4))
        assert [r for r, _ in found] == [i * 2 for i in range(40)] and max(a for _, a in found) <= 4
