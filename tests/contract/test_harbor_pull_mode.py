"""Pull mode through the endpoint: what Harbor's FetchArtifacts reads when the endpoint is the source
(harbor.md §6.7 for docker-registry, §7.1 #6 for huawei-SWR)."""

from __future__ import annotations

import json

import pytest

from tests import images
from tests.contract.conftest import unique
from tests.harbor_push import (
    DOCKER_REGISTRY,
    HUAWEI_SWR,
    HarborPusher,
    RegistryClient,
    Transport,
    open_layout,
)
from tests.harbor_push.client import HW_REPOSITORY_FIELDS, next_link


@pytest.fixture(scope="module")
def listed(sandbox, endpoint, tmp_path_factory):
    """Tenant A: three repositories (one nested) with tags t1, t2; tenant B: one repository."""
    tenant, other = sandbox.tenants[0], sandbox.tenants[1]
    layout = tmp_path_factory.mktemp("pull")
    images.build_image(layout, "t1", layers=1)
    images.build_image(layout, "t2", layers=1)
    org, other_org = unique("hppull"), unique("hppull")
    repos = [f"{org}/alpha", f"{org}/beta", f"{org}/gamma/delta"]
    with HarborPusher(endpoint.url, tenant.access_id, tenant.sk) as pusher:
        for repo in repos:
            assert pusher.copy(open_layout(layout), repo, ["t1", "t2"]).ok
    with HarborPusher(endpoint.url, other.access_id, other.sk) as pusher:
        assert pusher.copy(open_layout(layout), f"{other_org}/hidden", ["t1"]).ok
    return {"repos": repos, "foreign": f"{other_org}/hidden", "tenant": tenant}


def test_catalog_pages_follow_link_and_list_only_the_callers_repositories(endpoint, listed):
    tenant = listed["tenant"]
    transport = Transport()
    client = RegistryClient(endpoint.url, tenant.access_id, tenant.sk, transport)
    names = client.catalog(page_size=2)
    pages = transport.recorder.select("catalog")
    assert len(pages) >= 2 and all(p.status == 200 for p in pages)
    first = pages[0]
    assert first.url == f"{endpoint.url}/v2/_catalog?n=2"
    link = first.response_header("Link")
    nxt = next_link(link)
    assert link.endswith('>; rel="next"') and nxt.startswith("/v2/_catalog?") and "n=2" in nxt
    assert pages[1].url == endpoint.url + nxt  # relative links get the registry URL prefixed
    assert all(len(json.loads(p.response_body)["repositories"]) <= 2 for p in pages)
    assert pages[-1].response_header("Link") is None
    assert names == sorted(names) and len(names) == len(set(names))
    assert set(listed["repos"]) <= set(names)
    assert listed["foreign"] not in names
    scope = transport.recorder.select("token")[0]
    assert "scope=registry%3Acatalog%3A%2A" in scope.url
    transport.close()


def test_fetch_artifacts_reads_catalog_then_tags(endpoint, listed):
    """Harbor: `_catalog?n=1000`, then `tags/list` (no n) for every repository; any error fails
    the whole fetch, so every listed repository must be readable by the caller."""
    tenant = listed["tenant"]
    with HarborPusher(endpoint.url, tenant.access_id, tenant.sk, mode=DOCKER_REGISTRY) as puller:
        found = {r.name: r.tags for r in puller.fetch_artifacts()}
        rec = puller.recorder
    assert rec.select("catalog")[0].url == f"{endpoint.url}/v2/_catalog?n=1000"
    assert all(e.raw_query == "" for e in rec.select("tags-list"))
    for repo in listed["repos"]:
        assert sorted(found[repo]) == ["t1", "t2"]
    assert listed["foreign"] not in found


def test_tags_list_pages_follow_link(endpoint, listed):
    tenant = listed["tenant"]
    transport = Transport()
    client = RegistryClient(endpoint.url, tenant.access_id, tenant.sk, transport)
    repo = listed["repos"][2]
    assert client.list_tags(repo, page_size=1) == ["t1", "t2"]
    pages = transport.recorder.select("tags-list")
    assert [json.loads(p.response_body) for p in pages] == [{"name": repo, "tags": ["t1"]},
                                                            {"name": repo, "tags": ["t2"]}]
    assert next_link(pages[0].response_header("Link")).startswith(f"/v2/{repo}/tags/list?")
    transport.close()


def test_fetch_artifacts_of_specific_repositories_skips_the_catalog(endpoint, listed):
    tenant = listed["tenant"]
    with HarborPusher(endpoint.url, tenant.access_id, tenant.sk) as puller:
        found = puller.fetch_artifacts(listed["repos"][:1])
        rec = puller.recorder
    assert [(r.name, sorted(r.tags)) for r in found] == [(listed["repos"][0], ["t1", "t2"])]
    assert not rec.select("catalog")


@pytest.mark.parametrize("secret", ["sk", "login_key"])
def test_dockyard_repositories_in_harbors_exact_shape(endpoint, listed, secret):
    """`GET /dockyard/v2/repositories?filter=center::self`: a JSON array of hwRepoQueryResult, every
    field present with the type Go unmarshals it into; repository = namespace/name, tags = Vtags."""
    tenant = listed["tenant"]
    with HarborPusher(endpoint.url, tenant.access_id, getattr(tenant, secret), mode=HUAWEI_SWR) as puller:
        found = {r.name: r.tags for r in puller.fetch_artifacts()}
        exchange = puller.recorder.select("repositories")[0]
    assert exchange.url == f"{endpoint.url}/dockyard/v2/repositories?filter=center::self"
    assert exchange.header("Authorization").startswith("Basic ")
    entries = json.loads(exchange.response_body)
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) == set(HW_REPOSITORY_FIELDS), sorted(entry)
    for repo in listed["repos"]:
        assert sorted(found[repo]) == ["t1", "t2"]
    assert listed["foreign"] not in found
    mine = next(e for e in entries if f"{e['namespace']}/{e['name']}" == listed["repos"][2])
    assert mine["name"] == "gamma/delta" and mine["num_images"] == 2 and mine["size"] > 0
