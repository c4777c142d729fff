"""deploy/sync-job: the Indexed Job renders, validates strictly against a current Kubernetes schema, and is
wired as `swr-bridge sync --shard` expects (count = completions, files from the Secret and ConfigMap)."""

from __future__ import annotations

import shlex
from pathlib import Path

import kubernetes_validate
import pytest

from adapter.sync.cli import sync
from adapter.sync.errors import Leniency
from adapter.sync.files import load_auth, load_images
from tests.unit.ops.kustomize import load_all, render
from tests.unit.ops.test_deploy import K8S, by_kind

JOB_DIR = Path(__file__).resolve().parents[3] / "deploy" / "sync-job"


@pytest.fixture(scope="module")
def objects():
    return render(JOB_DIR)


def job_command(objects) -> list[str]:
    [c] = by_kind(objects)["Job"]["spec"]["template"]["spec"]["containers"]
    assert c["command"][:2] == ["sh", "-c"]
    return shlex.split(c["command"][2])


def test_every_object_validates_strictly(objects):
    assert sorted(o["kind"] for o in objects) == ["ConfigMap", "Job", "PersistentVolumeClaim"]
    for obj in objects + load_all(JOB_DIR / "auth.template.yaml"):
        kubernetes_validate.validate(obj, K8S, strict=True)


def test_the_validator_catches_a_mistake(objects):
    job = by_kind(objects)["Job"]
    job["spec"]["completionsMode"] = "Indexed"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S, strict=True)


def test_an_indexed_job_whose_shard_count_is_its_completions(objects):
    spec = by_kind(objects)["Job"]["spec"]
    [c] = spec["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert spec["completionMode"] == "Indexed"
    assert int(env["SYNC_SHARD_COUNT"]) == spec["completions"] == spec["parallelism"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    [rule] = spec["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailIndex" and rule["onExitCodes"]["values"] == [2]  # bad input is not retried


def test_the_command_reads_the_mounted_secret_and_configmap(objects, tmp_path):
    pod = by_kind(objects)["Job"]["spec"]["template"]["spec"]
    [c] = pod["containers"]
    args = job_command(objects)
    assert args[:2] == ["exec", "swr-bridge"] and args[2] == "sync"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
    auth, images = args[args.index("--auth") + 1], args[args.index("--images") + 1]
    [secret] = load_all(JOB_DIR / "auth.template.yaml")
    assert mounts[str(Path(auth).parent)]["secret"]["secretName"] == secret["metadata"]["name"]
    assert Path(auth).name in secret["stringData"]
    configmap = by_kind(objects)["ConfigMap"]
    assert mounts[str(Path(images).parent)]["configMap"]["name"] == configmap["metadata"]["name"]
    assert Path(images).name in configmap["data"]
    report = args[args.index(">") + 1]
    assert report.startswith("/reports/") and "$JOB_COMPLETION_INDEX" in report
    assert "persistentVolumeClaim" in mounts["/reports"]
    # every flag is one sync knows
    flags = {opt for p in sync.params for opt in p.opts}
    assert {a for a in args[3:args.index(">")] if a.startswith("-")} <= flags
    # and the files the Secret and ConfigMap hold are ones sync reads
    filled = secret["stringData"]["auth.yaml"].replace("REPLACE-with-the-AK", "AKEXAMPLE0123456789")
    (tmp_path / "auth.yaml").write_text(filled)
    assert load_auth(str(tmp_path / "auth.yaml"), Leniency(strict=True))
    (tmp_path / "images.yaml").write_text(configmap["data"]["images.yaml"])
    assert len(load_images(str(tmp_path / "images.yaml"), Leniency(strict=True))) == 4


def test_a_read_only_non_root_pod(objects):
    pod = by_kind(objects)["Job"]["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "memory" in c["resources"]["limits"]
