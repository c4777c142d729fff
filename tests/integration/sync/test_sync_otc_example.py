"""The OTC guide's image-syncer example (migrating swr.eu-de to swr.eu-nl), adapted to local hosts.

Guide: "Migrating Images to SWR Using image-syncer" (swr_bestpractice_0015). Its files are
    auth.json    {"swr.eu-de.otc.t-systems.com": {"username": "eu-de_otc@F1I3Q......", "password": "2fd4c969ea0......"},
                  "swr.eu-nl.otc.t-systems.com": {"username": "eu-nl_otc@4N3FA......", "password": "f1c82b57855f9d35......"}}
    images.json  {"swr.eu-de.otc.t-systems.com/org-ss/canary-consumer":
                  "swr.eu-nl.otc.t-systems.com/dev-container/canary-consumer"}
and its command is
    ./image-syncer --auth=./auth.json --images=./images.json --namespace=dev-container
                   --registry=swr.eu-de.otc.t-systems.com --retries=3 --log=./log
Here both regions are one sandbox: eu-de is tenant A, eu-nl is tenant B, so the auth keys are
`host/organization` (the longest key that prefixes a repository wins, as in image-syncer).
"""

from __future__ import annotations

from tests import images
from tests.integration.sync.conftest import (
    dest_digest,
    push_image,
    report_of,
    run_sync,
    sandbox_host,
    unique,
    write,
)


def _source(sandbox, tmp_path):
    """org-ss/canary-consumer:v1,v2 of the eu-de tenant (the guide's source)."""
    eu_de = sandbox.tenants[0]
    org = unique("org-ss")
    sandbox.create_organization(eu_de, org)
    pushed = {}
    for tag in ("v1", "v2"):
        image = images.build_image(tmp_path / f"canary-{tag}", tag, layers=2)
        push_image(image, f"{sandbox_host(sandbox)}/{org}/canary-consumer:{tag}",
                   f"{eu_de.access_id}:{eu_de.login_key}")
        pushed[tag] = image.digest
    return org, pushed


def _auth(sandbox, src_org: str, dst_org: str) -> dict:
    host = sandbox_host(sandbox)
    eu_de, eu_nl = sandbox.tenants
    # The guide's username/password pairs: `<project>@<AK>` and the login key. Organizations get made with
    # that login through /dockyard on the registry host, as on real SWR: the guide's file needs nothing more.
    return {f"{host}/{src_org}": {"username": eu_de.access_id, "password": eu_de.login_key},
            f"{host}/{dst_org}": {"username": eu_nl.access_id, "password": eu_nl.login_key}}


def test_the_guides_files_and_command(sandbox, tmp_path):
    src_org, pushed = _source(sandbox, tmp_path)
    dst_org = unique("dev-container")
    host = sandbox_host(sandbox)
    auth = write(tmp_path / "auth.json", _auth(sandbox, src_org, dst_org))
    rules = write(tmp_path / "images.json", {f"{host}/{src_org}/canary-consumer": f"{host}/{dst_org}/canary-consumer"})
    log = tmp_path / "log"

    command = ("sync", f"--auth={auth}", f"--images={rules}", f"--namespace={dst_org}", f"--registry={host}",
               "--retries=3", f"--log={log}")
    result = run_sync(*command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("copied 2, skipped 0, failed 0")
    eu_nl = sandbox.tenants[1]
    assert sandbox.state.owned(eu_nl, dst_org) is not None  # made through /dockyard with eu-nl's login
    for tag, digest in pushed.items():
        assert dest_digest(sandbox, f"{dst_org}/canary-consumer", tag, eu_nl) == digest
    logged = log.read_text()
    assert f"{host}/{dst_org}/canary-consumer:v1" in logged and "copied" in logged

    again = run_sync(*command)  # the guide's command once more
    assert again.returncode == 0 and again.stdout.startswith("copied 0, skipped 2, failed 0"), again.stdout


def test_an_empty_destination_takes_registry_and_namespace_from_the_flags(sandbox, tmp_path):
    """image-syncer's default registry and namespace: `""` lands in <registry>/<namespace>/canary-consumer."""
    src_org, pushed = _source(sandbox, tmp_path)
    dst_org = unique("dev-container")
    host = sandbox_host(sandbox)
    auth = write(tmp_path / "auth.yaml", _auth(sandbox, src_org, dst_org))
    rules = write(tmp_path / "images.yaml", {f"{host}/{src_org}/canary-consumer:v2": ""})
    result = run_sync("sync", "--auth", auth, "--images", rules, "--retries", "3", "-o", "json",
                      env={"DEFAULT_REGISTRY": host, "DEFAULT_NAMESPACE": dst_org})
    report = report_of(result)
    assert result.returncode == 0 and report["copied"] == 1, result.stdout + result.stderr
    assert report["images"][0]["destination"] == f"{host}/{dst_org}/canary-consumer:v2"
    assert dest_digest(sandbox, f"{dst_org}/canary-consumer", "v2", sandbox.tenants[1]) == pushed["v2"]
