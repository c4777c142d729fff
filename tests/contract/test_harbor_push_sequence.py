"""Harbor's jobservice push sequence, request for request, against the real endpoint (gunicorn) with
the SWR sandbox behind it: harbor.md §6.2-6.6 (docker-registry provider) and §7.1 (huawei-SWR).

Every scenario runs tests.harbor_push.HarborPusher, asserts the exact request sequence it produced
and the endpoint's answers, and then reads the result straight from the sandbox registry.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import pytest

from tests import images
from tests.contract.conftest import MAPPED_ORG, unique
from tests.harbor_push import (
    CHUNKED,
    CONTENT_LENGTH,
    DOCKER_REGISTRY,
    GO_USER_AGENT,
    HARBOR_USER_AGENT,
    HUAWEI_SWR,
    MANIFEST_ACCEPTS,
    ChunkAbort,
    HarborPusher,
    open_layout,
)
from tests.harbor_push.auth import is_rfc3339

MIB = 1024 * 1024
SMALL_CHUNK = MIB
HW_JSON = "application/json; charset=utf-8"
HUAWEI_CALLS = {"namespace-get", "namespace-create", "namespace-list", "swr-token", "repositories"}


def secret_for(tenant, mode: str) -> str:
    """docker-registry endpoints get the SK; huawei-SWR endpoints the login key, as Huawei documents it."""
    return tenant.sk if mode == DOCKER_REGISTRY else tenant.login_key


def make_pusher(endpoint, tenant, mode: str, **kw) -> HarborPusher:
    kw.setdefault("backoff", 0.0)
    return HarborPusher(endpoint.url, tenant.access_id, kw.pop("secret", None) or secret_for(tenant, mode),
                        mode=mode, **kw)


def push_once(endpoint, tenant, mode: str, layout, repo: str, tags: list[str], *, override: bool = True, **kw):
    """One copy task of a fresh pusher (`kw` as make_pusher) from `layout` to `repo`; (its result, its recorder)."""
    with make_pusher(endpoint, tenant, mode, **kw) as pusher:
        return pusher.copy(open_layout(layout), repo, tags, override=override), pusher.recorder


def steps(recorder) -> list[tuple[str, str, int | str]]:
    return [(e.purpose, e.method, e.status if e.error is None else "error") for e in recorder]


def summary(recorder) -> str:
    return "\n".join(recorder.summary())


# --- expected sequences ---------------------------------------------------------------------------

def exist_steps(mode: str, status: int) -> list[tuple]:
    if mode == HUAWEI_SWR:
        return [("swr-token", "GET", 200), ("manifest-exist", "GET", status)]
    return [("manifest-exist", "HEAD", status)]


def blob_steps(size: int, chunk_size: int | None, first_write: bool) -> list[tuple]:
    out = [("blob-exist", "HEAD", 404)]
    if first_write:
        out.append(("token", "GET", 200))  # repository:R:pull,push, fetched once per task
    out.append(("upload-init", "POST", 202))
    if chunk_size is None or size <= chunk_size:
        out.append(("blob-put", "PUT", 201))
    else:
        chunks = -(-size // chunk_size)
        out += [("chunk-patch", "PATCH", 202)] * (chunks - 1) + [("chunk-put", "PUT", 201)]
    return out


def prepare_steps(mode: str) -> list[tuple]:
    if mode == HUAWEI_SWR:
        return [("namespace-get", "GET", 200), ("namespace-create", "POST", 201)]
    return []


def image_steps(mode: str, image, chunk_size: int | None, *, first_native: bool = True,
                first_write: bool = True) -> list[tuple]:
    """One fresh image (nothing on the target yet): existence check, its blobs, the manifest PUT."""
    out = exist_steps(mode, 404)
    probe = [("probe", "GET", 401), ("token", "GET", 200)] if first_native else []  # token: :pull
    if mode == DOCKER_REGISTRY:
        out = probe + out
    for i, blob in enumerate(image.blobs):
        if i == 0 and mode == HUAWEI_SWR:
            out += probe  # huawei-SWR's first native request is the first blob HEAD
        out += blob_steps(blob["size"], chunk_size, first_write and i == 0)
    return out + [("manifest-put", "PUT", 201)]


# --- header and answer checks ---------------------------------------------------------------------

def check_common(recorder, mode: str, endpoint) -> None:
    """User-Agent, auth scheme and host of every request, as Harbor sends them."""
    host = urlsplit(endpoint.url).netloc
    for e in recorder:
        assert urlsplit(e.url).netloc == host, e
        huawei_call = e.purpose in HUAWEI_CALLS or (
            mode == HUAWEI_SWR and e.purpose in ("manifest-exist", "manifest-delete"))
        assert e.header_values("User-Agent") == [GO_USER_AGENT if huawei_call else HARBOR_USER_AGENT], e
        auth = e.header("Authorization") or ""
        if e.purpose == "probe":
            assert auth == "", "the /v2/ probe goes without credentials"
        elif e.purpose in HUAWEI_CALLS or e.purpose == "token":
            assert auth.startswith("Basic "), e
        else:
            assert auth.startswith("Bearer "), e
        if huawei_call:
            assert e.header("Content-Type") == HW_JSON, e


def check_probe_and_tokens(recorder, endpoint, repo: str) -> None:
    probe = recorder.select("probe")[0]
    assert probe.url == f"{endpoint.url}/v2/" and probe.status == 401
    challenge = probe.response_header("WWW-Authenticate")
    assert challenge.startswith(f'Bearer realm="{endpoint.url}/auth/token"') and 'service="swr-bridge"' in challenge
    quoted = quote(repo, safe="")
    urls = [e.url for e in recorder.select("token")]
    # url.Values.Encode(): keys sorted (scope < service), values query-escaped
    assert urls[:2] == [f"{endpoint.url}/auth/token?scope=repository%3A{quoted}%3Apull&service=swr-bridge",
                        f"{endpoint.url}/auth/token?scope=repository%3A{quoted}%3Apull%2Cpush&service=swr-bridge"]
    for e in recorder.select("token"):
        doc = json.loads(e.response_body)
        assert doc["token"] and doc["expires_in"] > 10 and is_rfc3339(doc["issued_at"]), doc


def check_exist_requests(recorder, mode: str) -> None:
    for e in recorder.select("manifest-exist"):
        if mode == DOCKER_REGISTRY:
            assert e.method == "HEAD" and e.header_values("Accept") == list(MANIFEST_ACCEPTS)
        else:
            assert e.method == "GET" and e.header_values("Accept") == []
            if e.status == 200:
                assert isinstance(json.loads(e.response_body), dict)


def check_blob_puts(recorder, image) -> None:
    sizes = {b["digest"]: b["size"] for b in image.blobs}
    for e in recorder.select("blob-put"):
        digest = e.query[-1][1]
        assert e.raw_query == "digest=" + quote(digest, safe=""), e.raw_query
        assert e.header("Content-Type") is None
        assert e.header("Content-Length") == str(sizes[digest]) and e.sent_bytes == sizes[digest]
        assert e.status == 201 and e.response_header("Docker-Content-Digest") == digest


def check_chunks(recorder, image, chunk_size: int, transfer: str) -> None:
    """PATCHes then a PUT with the digest: `Content-Range: start-end` without `bytes `, no
    Content-Type, framed by Content-Length or by chunked transfer encoding."""
    sizes = {b["digest"]: b["size"] for b in image.blobs}
    big = [d for d, s in sizes.items() if s > chunk_size]
    puts = [e for e in recorder.select("chunk-put") if e.status == 201]
    assert sorted(e.query[-1][1] for e in puts) == sorted(big)
    for e in recorder.select(("chunk-patch", "chunk-put")):
        start, end = (int(x) for x in e.header("Content-Range").split("-"))
        assert end - start + 1 <= chunk_size and e.header("Content-Type") is None
        if transfer == CONTENT_LENGTH:
            assert e.header("Content-Length") == str(end - start + 1) and e.header("Transfer-Encoding") is None
        else:
            assert e.header("Transfer-Encoding") == "chunked" and e.header("Content-Length") is None
        if e.error is None:
            assert e.sent_bytes == end - start + 1
        if e.purpose == "chunk-patch":
            assert e.raw_query == "" and e.status in (202, None)
            assert e.response_header("Location") or e.error
        else:
            assert e.raw_query == "digest=" + quote(e.query[-1][1], safe="")
            assert end == sizes[e.query[-1][1]] - 1
    for digest in big:
        ranges = [e.header("Content-Range") for e in recorder.select(("chunk-patch", "chunk-put"))
                  if e.status in (201, 202) and _blob_of(recorder, e) == digest]
        expected = [f"{s}-{min(s + chunk_size, sizes[digest]) - 1}" for s in range(0, sizes[digest], chunk_size)]
        assert ranges == expected


def _blob_of(recorder, exchange) -> str:
    """The digest whose upload an exchange belongs to: the last blob HEAD before it."""
    heads = [e for e in recorder if e.purpose == "blob-exist" and e.seq < exchange.seq]
    return heads[-1].path.rsplit("/", 1)[1]


def check_manifest_puts(recorder, expected: list[tuple[str, str, str]]) -> None:
    """(reference, media type, digest) in push order."""
    puts = recorder.select("manifest-put")
    assert [(e.path.rsplit("/", 1)[1], e.header("Content-Type")) for e in puts] == [(r, t) for r, t, _ in expected]
    assert [e.response_header("Docker-Content-Digest") for e in puts] == [d for _, _, d in expected]


# --- scenarios ------------------------------------------------------------------------------------

TRANSFERS = [
    pytest.param(False, CONTENT_LENGTH, id="monolithic"),
    pytest.param(True, CONTENT_LENGTH, id="chunks-content-length"),
    pytest.param(True, CHUNKED, id="chunks-transfer-encoding"),
]
MODES = [pytest.param(DOCKER_REGISTRY, id="docker-registry"), pytest.param(HUAWEI_SWR, id="huawei-SWR")]


@pytest.fixture(scope="module")
def three_layers(tmp_path_factory):
    """Config plus three ~2.5 MiB layers: each layer is more than two 1 MiB chunks."""
    return images.build_image(tmp_path_factory.mktemp("three"), "v1", layers=3, layer_size=2 * MIB + MIB // 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("by_chunk,transfer", TRANSFERS)
def test_image_with_three_layers(endpoint, tenant, direct, three_layers, mode, by_chunk, transfer):
    image, org = three_layers, unique()
    repo = f"{org}/app"
    result, rec = push_once(endpoint, tenant, mode, image.layout, repo, ["v1"], copy_by_chunk=by_chunk,
                            chunk_size=SMALL_CHUNK, chunk_transfer=transfer)
    assert result.ok, f"{result}\n{summary(rec)}\n{endpoint.log_text()[-3000:]}"
    assert result["v1"].status == "copied" and result["v1"].digest == image.digest
    expected = prepare_steps(mode) + image_steps(mode, image, SMALL_CHUNK if by_chunk else None)
    assert steps(rec) == expected, summary(rec)
    check_common(rec, mode, endpoint)
    check_probe_and_tokens(rec, endpoint, repo)
    check_exist_requests(rec, mode)
    check_blob_puts(rec, image)
    if by_chunk:
        check_chunks(rec, image, SMALL_CHUNK, transfer)
    check_manifest_puts(rec, [("v1", images.OCI_MANIFEST, image.digest)])
    direct.assert_image(repo, "v1", image)


@pytest.mark.parametrize("secret", ["sk", "login_key"])
def test_prepare_for_push_answers_missing_namespace_with_empty_object_then_creates_it(endpoint, tenant, sandbox,
                                                                                       secret):
    """With the SK the endpoint asks the signed SWR API, with the login key SWR's /dockyard calls."""
    org = unique()
    with make_pusher(endpoint, tenant, HUAWEI_SWR, secret=getattr(tenant, secret)) as pusher:
        created = pusher.prepare_for_push([f"{org}/app", f"{org}/other/deep"])
        again = pusher.prepare_for_push([f"{org}/app"])
        rec = pusher.recorder
    assert created == [org] and again == []
    assert steps(rec) == [("namespace-get", "GET", 200), ("namespace-get", "GET", 200),
                          ("namespace-create", "POST", 201), ("namespace-get", "GET", 200)], summary(rec)
    first, _, create, last = rec.exchanges
    assert first.path == f"/dockyard/v2/namespaces/{org}" and json.loads(first.response_body) == {}
    assert create.path == "/dockyard/v2/namespaces" and create.header("Content-Length") == str(len(
        json.dumps({"namespace": org}, separators=(",", ":"))))
    found = json.loads(last.response_body)
    assert found["name"] == org and {k: type(v) for k, v in found.items()} == {
        "id": int, "name": str, "creator_name": str, "auth": int, "user_count": int, "image_count": int}
    check_common(rec, HUAWEI_SWR, endpoint)
    with sandbox.manage_session(tenant) as session:
        assert session.get(f"{sandbox.api_url}/v2/manage/namespaces/{org}", timeout=10).status_code == 200


def test_prepare_for_push_with_a_mapping_creates_the_mapped_organization(endpoint, tenant, sandbox, direct, tmp_path):
    """`mapped/**` lands in MAPPED_ORG: PrepareForPush must not create an organization `mapped`."""
    image = images.build_image(tmp_path / "img", "v1", layers=1)
    result, rec = push_once(endpoint, tenant, HUAWEI_SWR, image.layout, "mapped/team/tool", ["v1"])
    assert result.ok, f"{result}\n{summary(rec)}"
    assert rec.select("namespace-get")[0].path == "/dockyard/v2/namespaces/mapped"
    with sandbox.manage_session(tenant) as session:
        assert session.get(f"{sandbox.api_url}/v2/manage/namespaces/mapped", timeout=10).status_code == 404
        assert session.get(f"{sandbox.api_url}/v2/manage/namespaces/{MAPPED_ORG}", timeout=10).status_code == 200
    direct.assert_image(f"{MAPPED_ORG}/tool", "v1", image)


def test_visible_namespaces_lists_the_tenants_organizations(endpoint, tenant, other_tenant):
    mine, theirs = unique(), unique()
    with make_pusher(endpoint, tenant, HUAWEI_SWR) as pusher:
        pusher.prepare_for_push([f"{mine}/app"])
        listed = pusher.huawei_client().list_namespaces()
    with make_pusher(endpoint, other_tenant, HUAWEI_SWR) as other:
        other.prepare_for_push([f"{theirs}/app"])
    names = {n["name"] for n in listed}
    assert mine in names and theirs not in names


@pytest.mark.parametrize("mode", MODES)
def test_docker_manifest_list_children_go_first_by_digest(endpoint, tenant, direct, tmp_path, mode):
    image = images.build_index(tmp_path / "list", "multi", docker=True, layers=2)
    org = unique()
    repo = f"{org}/multi"
    result, rec = push_once(endpoint, tenant, mode, image.layout, repo, ["multi"])
    assert result.ok, f"{result}\n{summary(rec)}"
    assert [c.reference for c in result["multi"].children] == [c.digest for c in image.children]
    expected = prepare_steps(mode) + exist_steps(mode, 404)
    if mode == DOCKER_REGISTRY:
        expected = [("probe", "GET", 401), ("token", "GET", 200)] + expected
    for n, child in enumerate(image.children):
        expected += image_steps(mode, child, None, first_native=(mode == HUAWEI_SWR and n == 0), first_write=n == 0)
    expected.append(("manifest-put", "PUT", 201))
    assert steps(rec) == expected, summary(rec)
    exists = [e.path.rsplit("/", 1)[1] for e in rec.select("manifest-exist")]
    assert exists == ["multi", *(c.digest for c in image.children)]
    check_manifest_puts(rec, [(c.digest, images.DOCKER_MANIFEST, c.digest) for c in image.children]
                        + [("multi", images.DOCKER_LIST, image.digest)])
    check_common(rec, mode, endpoint)
    check_exist_requests(rec, mode)
    direct.assert_image(repo, "multi", image)


def test_oci_index_children_go_first_by_digest(endpoint, tenant, direct, tmp_path):
    image = images.build_index(tmp_path / "idx", "idx", layers=1)
    repo = f"{unique()}/idx"
    result, rec = push_once(endpoint, tenant, DOCKER_REGISTRY, image.layout, repo, ["idx"])
    assert result.ok, f"{result}\n{summary(rec)}"
    stored = direct.manifest(repo, "idx")  # SWR refuses the index: the endpoint answers with the converted digest
    check_manifest_puts(rec, [(c.digest, images.OCI_MANIFEST, c.digest) for c in image.children]
                        + [("idx", images.OCI_INDEX, stored.headers["Docker-Content-Digest"])])
    for child in image.children:  # SWR keeps the OCI members
        direct.assert_image(repo, child.digest, child)
    images.assert_converted(stored.content, image, lambda d: direct.manifest(repo, d).content)


@pytest.mark.parametrize("transfer", [CONTENT_LENGTH, CHUNKED])
def test_blob_over_two_default_chunks(endpoint, tenant, direct, tmp_path, transfer):
    """The real default: 10 MiB chunks, a 21 MiB layer -> PATCH, PATCH, PUT."""
    image = images.build_big_image(tmp_path / "big", "big", size_mib=21)
    layer = image.blobs[1]
    assert layer["size"] > 20 * MIB
    repo = f"{unique()}/big"
    with make_pusher(endpoint, tenant, DOCKER_REGISTRY, copy_by_chunk=True, chunk_transfer=transfer) as pusher:
        assert pusher.chunk_size == 10 * MIB
        result = pusher.copy(open_layout(image.layout), repo, ["big"])
        rec = pusher.recorder
    assert result.ok, f"{result}\n{summary(rec)}\n{endpoint.log_text()[-3000:]}"
    assert steps(rec) == image_steps(DOCKER_REGISTRY, image, 10 * MIB), summary(rec)
    assert [e.header("Content-Range") for e in rec.select(("chunk-patch", "chunk-put"))] == [
        "0-10485759", "10485760-20971519", f"20971520-{layer['size'] - 1}"]
    check_chunks(rec, image, 10 * MIB, transfer)
    direct.assert_image(repo, "big", image)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transfer", [CONTENT_LENGTH, CHUNKED])
def test_failed_chunk_is_resumed_from_the_upload_status(endpoint, tenant, direct, tmp_path, mode, transfer):
    """A PATCH cut off mid-way: GET <upload url> -> `Range: 0-<end>` and Location -> the retry (after
    its blob HEAD) resumes at end+1 on that Location."""
    image = images.build_image(tmp_path / "img", "v1", layers=1, layer_size=2 * MIB + MIB // 2)
    layer = image.blobs[1]
    repo = f"{unique()}/resume"
    fault = ChunkAbort(chunk=1, after_bytes=300_000, digest=layer["digest"])
    result, rec = push_once(endpoint, tenant, mode, image.layout, repo, ["v1"], copy_by_chunk=True,
                            chunk_size=SMALL_CHUNK, chunk_transfer=transfer, faults=[fault])
    assert fault.fired == 1
    assert result.ok, f"{result}\n{summary(rec)}\n{endpoint.log_text()[-3000:]}"
    assert result["v1"].blobs[1].attempts == 2
    start = rec.select("blob-exist")[1].seq
    assert steps(rec)[start:] == [
        ("blob-exist", "HEAD", 404), ("upload-init", "POST", 202), ("chunk-patch", "PATCH", 202),
        ("chunk-patch", "PATCH", "error"), ("upload-status", "GET", 204), ("blob-exist", "HEAD", 404),
        ("chunk-patch", "PATCH", 202), ("chunk-put", "PUT", 201), ("manifest-put", "PUT", 201)], summary(rec)
    _, _, first, cut, status, _, resumed, last, _ = rec.exchanges[start:]
    assert cut.url.endswith(first.response_header("Location"))
    assert cut.header("Content-Range") == "1048576-2097151" and cut.sent_bytes == 300_000
    assert status.url == cut.url and status.header("Authorization").startswith("Bearer ")
    assert status.response_header("Range") == "0-1048575"
    assert resumed.url.endswith(status.response_header("Location"))
    assert resumed.header("Content-Range") == "1048576-2097151"
    assert last.header("Content-Range") == f"2097152-{layer['size'] - 1}"
    # the status GET carried a repository:R:pull token, as Harbor's scope parser asks for a GET
    pull_token = json.loads(rec.select("token")[0].response_body)["token"]
    assert status.header("Authorization") == f"Bearer {pull_token}"
    direct.assert_image(repo, "v1", image)


@pytest.mark.parametrize("mode", MODES)
def test_deletion_resolves_and_deletes(endpoint, tenant, direct, tmp_path, mode):
    """docker-registry: HEAD (exists), HEAD for the digest, DELETE by digest with a `*` token.
    huawei-SWR: token + GET (exists), token + DELETE by the tag itself."""
    image = images.build_image(tmp_path / "img", "v1", layers=1)
    repo = f"{unique()}/gone"
    with make_pusher(endpoint, tenant, mode) as pusher:
        assert pusher.copy(open_layout(image.layout), repo, ["v1"]).ok
        pusher.recorder.clear()
        deleted = pusher.delete(repo, ["v1"])
        rec = list(pusher.recorder)
        pusher.recorder.clear()
        again = pusher.delete(repo, ["v1"])
        rec_again = pusher.recorder
    assert deleted.ok and deleted["v1"].status == "deleted", f"{deleted}\n{rec}"
    if mode == DOCKER_REGISTRY:
        assert [(e.purpose, e.method, e.status) for e in rec] == [
            ("probe", "GET", 401), ("token", "GET", 200), ("manifest-exist", "HEAD", 200),
            ("manifest-resolve", "HEAD", 200), ("token", "GET", 200), ("manifest-delete", "DELETE", 202)]
        assert "scope=repository%3A" + quote(repo, safe="") + "%3A%2A&" in rec[4].url
        assert rec[5].path == f"/v2/{repo}/manifests/{image.digest}"
        assert rec[3].response_header("Docker-Content-Digest") == image.digest
    else:
        assert [(e.purpose, e.method, e.status) for e in rec] == [
            ("swr-token", "GET", 200), ("manifest-exist", "GET", 200), ("swr-token", "GET", 200),
            ("manifest-delete", "DELETE", 202)]
        assert rec[3].path == f"/v2/{repo}/manifests/v1"
        assert "scope=repository:" + repo + ":push,pull" == rec[2].raw_query
    assert again.ok and again["v1"].status == "absent"
    assert [e.purpose for e in rec_again][-1] == "manifest-exist" and not rec_again.select("manifest-delete")
    assert direct.manifest(repo, "v1").status_code == 404
    assert direct.manifest(repo, image.digest).status_code == 404


@pytest.mark.parametrize("mode", MODES)
def test_existing_tag_override_semantics(endpoint, tenant, direct, tmp_path, mode):
    """docker-registry compares Docker-Content-Digest: same digest -> skipped without a write; another
    digest -> skipped (override off) or pushed (override on). huawei-SWR's GET gives no digest, so
    an existing tag is never 'the same': skipped without override, re-pushed with it."""
    first = images.build_image(tmp_path / "a", "v1", layers=1)
    second = images.build_image(tmp_path / "b", "v1", layers=1)
    repo = f"{unique()}/over"
    with make_pusher(endpoint, tenant, mode) as pusher:
        assert pusher.copy(open_layout(first.layout), repo, ["v1"]).ok
        pusher.recorder.clear()
        same = pusher.copy(open_layout(first.layout), repo, ["v1"], override=False)
        same_steps = [e.purpose for e in pusher.recorder]
        pusher.recorder.clear()
        kept = pusher.copy(open_layout(second.layout), repo, ["v1"], override=False)
        kept_steps = [e.purpose for e in pusher.recorder]
        direct.assert_image(repo, "v1", first)
        pusher.recorder.clear()
        replaced = pusher.copy(open_layout(second.layout), repo, ["v1"], override=True)
        replaced_rec = pusher.recorder
    assert kept.ok and kept["v1"].status == "skipped" and "manifest-put" not in kept_steps
    if mode == DOCKER_REGISTRY:
        assert same["v1"].status == "exists" and same_steps[-1] == "manifest-exist"
        exist = replaced_rec.select("manifest-exist")[0]
        assert exist.response_header("Docker-Content-Digest") == first.digest
    else:
        assert same["v1"].status == "skipped" and "manifest-put" not in same_steps
    assert replaced.ok and replaced["v1"].status == "copied" and replaced["v1"].overridden
    assert [e.status for e in replaced_rec.select("manifest-put")] == [201]
    direct.assert_image(repo, "v1", second)


def test_existing_blobs_are_not_uploaded_again(endpoint, tenant, tmp_path):
    image = images.build_image(tmp_path / "img", "v1", layers=3)
    repo = f"{unique()}/again"
    with make_pusher(endpoint, tenant, DOCKER_REGISTRY) as pusher:
        assert pusher.copy(open_layout(image.layout), repo, ["v1"]).ok
        pusher.recorder.clear()
        result = pusher.copy(open_layout(image.layout), repo, ["v1"], dest_references=["v2"])
        rec = pusher.recorder
    assert result.ok and [b.status for b in result["v1"].blobs] == ["exists"] * 4
    assert steps(rec) == [("probe", "GET", 401), ("token", "GET", 200), ("manifest-exist", "HEAD", 404)] + [
        ("blob-exist", "HEAD", 200)] * 4 + [("token", "GET", 200), ("manifest-put", "PUT", 201)], summary(rec)


@pytest.mark.parametrize("mode", MODES)
def test_tokens_are_reused_within_a_task(endpoint, tenant, tmp_path, mode):
    """Harbor caches one token per scope set while issued_at + expires_in - 10s lies ahead: a task
    copying three tags fetches repository:R:pull and repository:R:pull,push once each. The huawei-SWR
    adapter's own token (/swr/auth) is fetched before every existence check, uncached."""
    layout = tmp_path / "tags"
    tagged = [images.build_image(layout, tag, layers=2) for tag in ("a", "b", "c")]
    repo = f"{unique()}/tokens"
    result, rec = push_once(endpoint, tenant, mode, layout, repo, ["a", "b", "c"])
    assert result.ok, f"{result}\n{summary(rec)}"
    assert [o.digest for o in result.outcomes] == [i.digest for i in tagged]
    assert len(rec.select("token")) == 2
    assert len(rec.select("probe")) == 1
    assert len(rec.select("swr-token")) == (3 if mode == HUAWEI_SWR else 0)
    bearer = {e.header("Authorization") for e in rec if e.purpose in ("blob-exist", "manifest-exist")
              and e.method == "HEAD"}
    assert len(bearer) == 1
    check_common(rec, mode, endpoint)


def test_a_new_task_probes_and_fetches_again(endpoint, tenant, tmp_path):
    """Each task job builds its own adapter, so the probe and the tokens are per task."""
    image = images.build_image(tmp_path / "img", "v1", layers=1)
    repo = f"{unique()}/tasks"
    with make_pusher(endpoint, tenant, DOCKER_REGISTRY) as pusher:
        assert pusher.copy(open_layout(image.layout), repo, ["v1"]).ok
        assert pusher.copy(open_layout(image.layout), repo, ["v1"]).ok
        rec = pusher.recorder
    assert len(rec.select("probe")) == 2 and len(rec.select("token")) == 3  # 2 + 1 (the second only reads)


@pytest.mark.parametrize("manifest_type", ["oci", "docker"])
def test_huawei_existence_check_gets_the_stored_manifest_as_json(endpoint, tenant, tmp_path, manifest_type):
    """The GET without Accept must come back as the stored bytes: docker-registry alone would answer
    404 for an OCI manifest and down-convert schema 2 to schema 1."""
    image = images.build_image(tmp_path / "img", "v1", layers=1, docker=manifest_type == "docker")
    repo = f"{unique()}/exists"
    with make_pusher(endpoint, tenant, HUAWEI_SWR) as pusher:
        assert pusher.copy(open_layout(image.layout), repo, ["v1"]).ok
        pusher.recorder.clear()
        exists, desc = pusher.huawei_client().manifest_exist(repo, "v1")
        exchange = pusher.recorder.select("manifest-exist")[0]
    assert exists and desc.digest == ""
    assert exchange.header_values("Accept") == [] and exchange.status == 200
    assert exchange.response_body == image.manifest
    assert exchange.response_header("Content-Type") == image.media_type
    assert json.loads(exchange.response_body)["schemaVersion"] == 2


def test_source_can_be_a_live_registry(endpoint, tenant, sandbox, direct, tmp_path):
    """The source side as Harbor reads its local registry: six Accept values for manifests,
    `Accept-Encoding: identity` for blobs and `Range: bytes=` for chunks."""
    from tests.harbor_push import RegistryClient, RegistrySource, Transport

    image = images.build_image(tmp_path / "img", "v1", layers=2, layer_size=2 * MIB + 1000)
    src_repo, dest_repo = f"{unique()}/src", f"{unique()}/copy"
    with make_pusher(endpoint, tenant, DOCKER_REGISTRY) as seed:
        assert seed.copy(open_layout(image.layout), src_repo, ["v1"]).ok
    transport = Transport()
    source = RegistrySource(RegistryClient(sandbox.registry_url, tenant.access_id, tenant.login_key, transport,
                                           purpose_prefix="source-"))
    with make_pusher(endpoint, tenant, DOCKER_REGISTRY, copy_by_chunk=True, chunk_size=SMALL_CHUNK) as pusher:
        result = pusher.copy(source, dest_repo, ["v1"], source_repo=src_repo)
    assert result.ok, f"{result}\n{summary(pusher.recorder)}"
    pulls = transport.recorder.select("source-manifest-pull")
    assert pulls[0].header_values("Accept") == list(MANIFEST_ACCEPTS)
    assert pulls[0].response_header("Docker-Content-Digest") == image.digest
    ranges = [e.header("Range") for e in transport.recorder.select("source-blob-pull-chunk")]
    assert ranges[:3] == ["bytes=0-1048575", "bytes=1048576-2097151", f"bytes=2097152-{image.blobs[1]['size'] - 1}"]
    assert all(e.header("Accept-Encoding") == "identity"
               for e in transport.recorder.select(("source-blob-pull", "source-blob-pull-chunk")))
    transport.close()
    direct.assert_image(dest_repo, "v1", image)


def test_harbor_v2_15_2_sends_its_chunks_chunked(endpoint, tenant, direct, tmp_path):
    """v2.15.2 sets a Content-Length header string that Go ignores, so its chunk PATCH/PUTs go out with
    Transfer-Encoding: chunked; its probe is <scheme>://<host>/v2/."""
    image = images.build_image(tmp_path / "img", "v1", layers=1, layer_size=2 * MIB + MIB // 2)
    repo = f"{unique()}/old"
    with make_pusher(endpoint, tenant, DOCKER_REGISTRY, copy_by_chunk=True, chunk_size=SMALL_CHUNK,
                     harbor_version="v2.15.2") as pusher:
        assert pusher.chunk_transfer == CHUNKED
        result = pusher.copy(open_layout(image.layout), repo, ["v1"])
        rec = pusher.recorder
    assert result.ok, f"{result}\n{summary(rec)}"
    assert steps(rec) == image_steps(DOCKER_REGISTRY, image, SMALL_CHUNK), summary(rec)
    check_chunks(rec, image, SMALL_CHUNK, CHUNKED)
    assert rec.select("probe")[0].url == f"{endpoint.url}/v2/"
    direct.assert_image(repo, "v1", image)
