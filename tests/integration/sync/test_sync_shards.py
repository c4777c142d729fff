"""--shard INDEX/COUNT over a real registry and the sandbox: two shards of one images file of 200 images copy
disjoint sets whose union is the whole; `sync report` merges their reports and success files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.sync.conftest import (
    aksk_auth,
    dest_digest,
    report_of,
    run_sync,
    sandbox_host,
    unique,
    write,
)
from tests.registries import plain_registry
from tests.seed import Seeder

REPOS, TAGS = 100, 2


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A docker-registry holding shard/app0..99 with tags t0 and t1 (seeded on disk); (host, {image: digest})."""
    root = tmp_path_factory.mktemp("shard-source")
    seeder = Seeder(root / "data")
    digests = {}
    for i in range(REPOS):
        for tag, digest in seeder.seed(f"shard/app{i}", [f"t{j}" for j in range(TAGS)]).items():
            digests[f"app{i}:{tag}"] = digest
    with plain_registry(root) as process:
        yield process.url.removeprefix("http://"), digests


@pytest.fixture(scope="module")
def migration(seeded, sandbox, tmp_path_factory):
    """Both shards run on one images file of 200 images; (org, rules, [report 0, report 1], folder)."""
    host, digests = seeded
    folder = tmp_path_factory.mktemp("shards")
    org = unique("shard")
    rules = {f"{host}/shard/{image}": f"{sandbox_host(sandbox)}/{org}/{image}" for image in digests}
    write(folder / "images.yaml", rules)
    write(folder / "auth.json", aksk_auth(sandbox))
    reports = []
    for index in (0, 1):
        result = run_sync("sync", "--auth", folder / "auth.json", "--images", folder / "images.yaml",
                          "--shard", f"{index}/2", "-o", "json", "--output-success-images", folder / f"done-{index}.yaml")
        (folder / f"shard-{index}.json").write_text(result.stdout)
        assert result.returncode == 0, result.stderr[-2000:]
        reports.append(report_of(result))
    return org, rules, reports, folder


def test_two_shards_copy_disjoint_sets_whose_union_is_the_whole(migration, seeded, sandbox):
    org, rules, reports, _ = migration
    sets = [{(i["source"], i["destination"]) for i in r["images"]} for r in reports]
    assert len(rules) == 200
    assert sets[0] and sets[1] and not sets[0] & sets[1]
    assert sets[0] | sets[1] == set(rules.items())
    assert all(i["status"] == "copied" for r in reports for i in r["images"])
    assert [r["shard"] for r in reports] == ["0/2", "1/2"]
    for image, digest in seeded[1].items():
        repo, tag = image.split(":")
        assert dest_digest(sandbox, f"{org}/{repo}", tag) == digest


def test_a_repositorys_tags_stay_in_one_shard(migration):
    _, _, reports, _ = migration
    owners = {}
    for index, report in enumerate(reports):
        for image in report["images"]:
            owners.setdefault(image["source"].rsplit(":", 1)[0], set()).add(index)
    assert len(owners) == 100 and all(len(found) == 1 for found in owners.values())


def test_the_job_index_and_count_from_env_choose_the_same_shard(migration):
    _, _, reports, folder = migration
    result = run_sync("sync", "--auth", folder / "auth.json", "--images", folder / "images.yaml", "--dry-run",
                      "-o", "json", env={"JOB_COMPLETION_INDEX": "1", "SYNC_SHARD_COUNT": "2"})
    report = report_of(result)
    assert result.returncode == 0 and report["shard"] == "1/2"
    assert {i["source"] for i in report["images"]} == {i["source"] for i in reports[1]["images"]}
    assert {i["status"] for i in report["images"]} == {"skipped"}  # copied by the shard before: up to date


def test_each_shard_takes_its_share_of_swrs_limits_unless_told_otherwise(migration):
    _, _, reports, folder = migration
    # SWR's 20 layers at once and 20 requests/s are the tenant's: two shards at once take half each.
    assert [r["limits"] for r in reports] == [{"swr_layers": 10, "max_rps": 10.0}] * 2
    files = ("--auth", folder / "auth.json", "--images", folder / "images.yaml", "--dry-run", "-o", "json")
    result = run_sync("sync", *files, env={"JOB_COMPLETION_INDEX": "0", "SYNC_SHARD_COUNT": "32"})
    assert report_of(result)["limits"] == {"swr_layers": 1, "max_rps": 0.625}  # never below one layer
    assert "shard 0/32: the rules whose source repository hashes to it; per SWR tenant at most 1 layer uploads " \
           "at once and 0.625 requests/s" in result.stderr
    told = run_sync("sync", *files, "--shard", "0/4", "--swr-layers", "7", "--max-rps", "0")
    assert report_of(told)["limits"] == {"swr_layers": 7, "max_rps": 0.0}  # the flags win
    alone = run_sync("sync", *files)
    assert report_of(alone)["limits"] == {"swr_layers": 20, "max_rps": 20.0} and "per SWR tenant" not in alone.stderr


def test_an_index_without_a_count_is_refused(migration):
    _, _, _, folder = migration
    result = run_sync("sync", "--images", folder / "images.yaml", env={"JOB_COMPLETION_INDEX": "0"})
    assert result.returncode == 2 and "SYNC_SHARD_COUNT" in result.stderr and "Traceback" not in result.stderr
    result = run_sync("sync", "--images", folder / "images.yaml", "--shard", "2/2")
    assert result.returncode == 2 and "--shard" in result.stderr and "below COUNT" in result.stderr


def test_sync_report_merges_the_shards_reports(migration):
    _, _, reports, folder = migration
    result = run_sync("sync", "report", "-o", "json", folder / "shard-0.json", folder / "shard-1.json")
    merged = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert merged["shards"] == 2 and merged["copied"] == 200 and merged["done"] == 200 and merged["failed"] == 0
    assert merged["bytes"] == reports[0]["bytes"] + reports[1]["bytes"]
    assert merged["seconds"] == max(r["seconds"] for r in reports)
    assert len(merged["images"]) == 200 and merged["overlap"] == []
    text = run_sync("sync", "report", folder / "shard-0.json", folder / "shard-1.json")
    assert text.returncode == 0 and "2 file(s), 200 image(s) done" in text.stdout


def test_sync_report_over_success_files_and_overlap(migration):
    _, rules, _, folder = migration
    result = run_sync("sync", "report", "-o", "json", folder / "done-0.yaml", folder / "done-1.yaml")
    merged = json.loads(result.stdout)
    assert result.returncode == 0 and merged["done"] == 200
    assert {(i["source"], i["destination"]) for i in merged["images"]} == set(rules.items())
    twice = run_sync("sync", "report", folder / "shard-0.json", folder / "done-0.yaml")
    assert twice.returncode == 1 and "in two shards:" in twice.stdout


def test_sync_report_refuses_what_is_not_a_report(tmp_path):
    bad = write(tmp_path / "x.json", [1, 2])
    result = run_sync("sync", "report", bad)
    assert result.returncode == 2 and "x.json" in result.stderr and "Traceback" not in result.stderr


def test_the_sync_jobs_pods_migrate_everything_and_report_merges_their_volume(seeded, sandbox, tmp_path):
    """deploy/sync-job's command as its K pods run it (JOB_COMPLETION_INDEX 0..K-1), on 40 repositories."""
    from tests.unit.ops.kustomize import render
    from tests.unit.ops.test_sync_job import JOB_DIR

    host, digests = seeded
    [job] = [o for o in render(JOB_DIR) if o["kind"] == "Job"]
    [c] = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    count = int(env["SYNC_SHARD_COUNT"])
    org = unique("job")
    rules = {f"{host}/shard/app{i}": f"{sandbox_host(sandbox)}/{org}/app{i}" for i in range(40)}
    (tmp_path / "reports").mkdir()
    command = (c["command"][2].replace("/etc/swr-bridge-sync/auth/auth.yaml", str(write(tmp_path / "auth.json", aksk_auth(sandbox))))
               .replace("/etc/swr-bridge-sync/images/images.yaml", str(write(tmp_path / "images.yaml", rules)))
               .replace("/reports/", f"{tmp_path}/reports/"))
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    for index in range(count):
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, **env, PATH=path, JOB_COMPLETION_INDEX=str(index)))
        assert done.returncode == 0, done.stderr[-2000:]
    result = run_sync("sync", "report", "-o", "json", tmp_path / "reports")
    merged = json.loads(result.stdout)
    assert result.returncode == 0 and merged["shards"] == count
    assert merged["copied"] == 2 * 40 and merged["overlap"] == []
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(
        [f"shard-{i}.json" for i in range(count)] + [f"shard-{i}.log" for i in range(count)])
