"""The engine's decisions on in-memory registries: retries and backoff, the final pass, skips, sharing
a blob between images, mounting it into other repositories, and platform selection."""

from __future__ import annotations

import json
import threading

from adapter.sync.engine import Engine, Job, Options
from adapter.sync.errors import CopyError
from adapter.transfer.oci import DOCKER_LIST, OCI_MANIFEST, sha256_digest


class Memory:
    """A registry in memory; `faults[op]` is a list of exceptions raised by the next calls of op."""

    def __init__(self, host: str):
        self.host = host
        self.blobs: dict[str, bytes] = {}
        self.links: set[tuple[str, str]] = set()  # (repo, digest) the repo can see
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.calls: list[tuple] = []
        self.faults: dict[str, list[Exception]] = {}
        self.listing: dict[str, dict[str, str]] | None = None  # SWR's tag listing per repo; None: not SWR
        self._lock = threading.Lock()

    def _note(self, op: str, *args) -> None:
        with self._lock:
            self.calls.append((op, *args))
            pending = self.faults.get(op)
            if pending:
                raise pending.pop(0)

    # source side
    def add_blob(self, repo: str, data: bytes) -> dict:
        self.blobs[sha256_digest(data)] = data
        self.links.add((repo, sha256_digest(data)))
        return {"mediaType": "application/octet-stream", "digest": sha256_digest(data), "size": len(data)}

    def add_manifest(self, repo: str, ref: str, doc: dict, media_type: str = OCI_MANIFEST) -> str:
        body = json.dumps(doc).encode()
        self.manifests[(repo, ref)] = self.manifests[(repo, sha256_digest(body))] = (body, media_type)
        return sha256_digest(body)

    def manifest(self, repo, ref, unless=None):
        self._note("conditional_manifest" if unless else "manifest", repo, ref)
        if (repo, ref) not in self.manifests:
            raise CopyError(f"{repo}:{ref} unknown")
        found = self.manifests[(repo, ref)]
        return None if unless and sha256_digest(found[0]) == unless else found

    def open_blob(self, repo, digest):
        self._note("open_blob", repo, digest)
        import io

        return io.BytesIO(self.blobs[digest])

    # destination side
    def prefetch(self, repos):
        self._note("prefetch", tuple(repos))

    def ensure_organization(self, org):
        self._note("ensure_organization", org)

    def digest(self, repo, ref):
        self._note("digest", repo, ref)
        found = self.manifests.get((repo, ref))
        return sha256_digest(found[0]) if found else None

    def listed_digests(self, repo):
        self._note("listed_digests", repo)
        return None if self.listing is None else self.listing.get(repo, {})

    def has_blob(self, repo, digest):
        self._note("has_blob", repo, digest)
        return (repo, digest) in self.links

    def start_upload(self, repo, mount=None, source=None):
        self._note("start_upload", repo, mount, source)
        if mount and (source, mount) in self.links:
            self.links.add((repo, mount))
            return None
        return f"/upload/{repo}"

    def upload(self, repo, location, body, digest):
        data = b"".join(body)
        self._note("upload", repo, digest)
        assert body.digest == digest
        self.blobs[digest] = data
        self.links.add((repo, digest))

    def put_manifest(self, repo, ref, body, media_type):
        self._note("put_manifest", repo, ref)
        for blob in json.loads(body).get("layers", []):
            assert (repo, blob["digest"]) in self.links, "manifest before its blobs"
        self.manifests[(repo, ref)] = (body, media_type)

    def count(self, op: str) -> int:
        return sum(1 for call in self.calls if call[0] == op)


class Events:
    def __init__(self):
        self.lines, self.finals = [], []

    def started(self, job):
        pass

    def finished(self, result):
        self.lines.append((result.status, result.destination))

    def blob(self, kind):
        pass

    def add_bytes(self, n):
        pass

    def retry(self, what, reason, attempt, retries):
        self.lines.append(("retry", what, reason, attempt))

    def final_pass(self, count):
        self.finals.append(count)


def image(src: Memory, repo: str, tag: str, *layers: bytes, platform=("linux", "amd64")) -> str:
    config = src.add_blob(repo, json.dumps({"os": platform[0], "architecture": platform[1]}).encode())
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
           "layers": [src.add_blob(repo, data) for data in layers]}
    return src.add_manifest(repo, tag, doc)


def engine(retries=2, sleeps=None, **kw):
    events = Events()
    sleeps = [] if sleeps is None else sleeps
    return Engine(Options(proc=3, retries=retries, backoff=0.5, **kw), events, sleep=sleeps.append), events


def job(src, dst, repo="team/app", tag="v1", dst_repo="org/app"):
    return Job(src, repo, tag, dst, dst_repo, tag, f"{src.host}/{repo}:{tag}")


def test_copies_then_skips_when_the_digest_matches():
    src, dst = Memory("src"), Memory("dst")
    digest = image(src, "team/app", "v1", b"layer-one", b"layer-two")
    eng, _ = engine()
    [first] = eng.run([job(src, dst)])
    assert (first.status, first.digest, first.blobs["uploaded"]) == ("copied", digest, 3)
    assert dst.digest("org/app", "v1") == digest
    [second] = eng.run([job(src, dst)])
    assert (second.status, second.reason) == ("skipped", "up to date")


def test_retryable_failures_back_off_then_succeed():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"only-layer")
    dst.faults["upload"] = [CopyError("reset", retryable=True), CopyError("reset again", retryable=True)]
    sleeps = []
    eng, events = engine(retries=2, sleeps=sleeps)
    [result] = eng.run([job(src, dst)])
    assert result.status == "copied"
    assert sleeps == [0.5, 1.0]  # 1, 2 x backoff
    assert [line[3] for line in events.lines if line[0] == "retry"] == [1, 2]


def test_a_permanent_failure_is_not_retried_and_gets_no_final_pass():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"x")
    dst.faults["put_manifest"] = [CopyError("400 MANIFEST_INVALID", retryable=False)]
    eng, events = engine()
    [result] = eng.run([job(src, dst)])
    assert (result.status, result.reason, result.retryable) == ("failed", "400 MANIFEST_INVALID", False)
    assert dst.count("put_manifest") == 1 and events.finals == []


def test_the_final_pass_retries_what_still_failed():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"x")
    image(src, "team/app", "v2", b"y", platform=("linux", "arm64"))  # no blob in common with v1
    dst.faults["upload"] = [CopyError("reset", retryable=True)]
    eng, events = engine(retries=0)
    results = eng.run([job(src, dst, tag="v1"), job(src, dst, tag="v2")])
    assert [r.status for r in results] == ["copied", "copied"]
    assert events.finals == [1]
    assert [line[0] for line in events.lines].count("failed") == 1  # reported, then copied in the final pass


def test_a_blob_shared_by_images_is_moved_once_and_mounted_into_other_repositories():
    src, dst = Memory("src"), Memory("dst")
    base = b"shared-base-layer"
    image(src, "team/a", "v1", base, b"a-only")
    image(src, "team/b", "v1", base, b"b-only")
    eng, _ = engine()
    results = eng.run([job(src, dst, "team/a", dst_repo="org/a"), job(src, dst, "team/a", dst_repo="org/a"),
                       job(src, dst, "team/b", dst_repo="org/b")])
    assert [r.status for r in results][0] == "copied"
    uploads = [c[2] for c in dst.calls if c[0] == "upload"]
    assert uploads.count(sha256_digest(base)) == 1  # once into org/a, then mounted into org/b
    assert ("start_upload", "org/b", sha256_digest(base), "org/a") in dst.calls
    assert ("org/b", sha256_digest(base)) in dst.links


def test_an_index_is_filtered_by_arch_and_its_children_go_first():
    src, dst = Memory("src"), Memory("dst")
    amd = image(src, "team/m", "amd", b"amd-layer")
    arm = image(src, "team/m", "arm", b"arm-layer", platform=("linux", "arm64"))
    index = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": amd, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": arm, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}}]}
    whole = src.add_manifest("team/m", "1.0", index, DOCKER_LIST)
    eng, _ = engine(arches=("arm64",))
    [result] = eng.run([job(src, dst, "team/m", "1.0", "org/m")])
    assert result.status == "copied" and result.digest != whole
    pushed = json.loads(dst.manifests[("org/m", "1.0")][0])
    assert [m["digest"] for m in pushed["manifests"]] == [arm]
    puts = [c[2] for c in dst.calls if c[0] == "put_manifest"]
    assert puts == [arm, "1.0"] and ("org/m", amd) not in dst.manifests

    single, _ = engine(single=True, arches=("amd64",))
    [one] = single.run([job(src, dst, "team/m", "1.0", "org/one")])
    assert one.digest == amd and dst.digest("org/one", "1.0") == amd


def test_an_image_whose_config_does_not_fit_the_filters_is_skipped():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"x", platform=("windows", "amd64"))
    eng, _ = engine(oses=("linux",))
    [result] = eng.run([job(src, dst)])
    assert (result.status, result.reason) == ("skipped", "no manifest fits the platform filters")
    assert dst.count("put_manifest") == 0


def test_dry_run_reads_but_never_writes():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"x")
    eng, _ = engine(dry_run=True)
    [result] = eng.run([job(src, dst)])
    assert (result.status, result.reason) == ("planned", "would copy")
    assert {c[0] for c in dst.calls} == {"prefetch", "listed_digests", "digest"}  # no organization, blob, manifest


def test_a_manifest_that_does_not_match_its_digest_fails():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"x")
    wrong = "sha256:" + "0" * 64
    src.manifests[("team/app", wrong)] = src.manifests[("team/app", "v1")]
    eng, _ = engine()
    [result] = eng.run([Job(src, "team/app", wrong, dst, "org/app", wrong, "src/team/app")])
    assert result.status == "failed" and "the source sent a manifest with digest" in result.reason


# --- SWR's tag listing ------------------------------------------------------------------------------

def synced(*tags: str, copy: tuple[str, ...] | None = None) -> tuple[Memory, Memory]:
    """A source with one image per tag in team/app, and a destination the first run copied `copy` of them
    into org/app (all by default); the calls so far are forgotten."""
    src, dst = Memory("src"), Memory("dst")
    for tag in tags:
        image(src, "team/app", tag, tag.encode())
    engine()[0].run([job(src, dst, tag=t) for t in (copy or tags)])
    src.calls, dst.calls = [], []
    return src, dst


def _listed(dst: Memory, repo: str) -> dict[str, str]:
    return {ref: sha256_digest(body) for (r, ref), (body, _) in dst.manifests.items() if r == repo and ":" not in ref}


def test_swr_listing_confirms_up_to_date_tags_with_one_call_per_repository():
    src, dst = synced("v1", "v2", "v3")
    assert len(_listed(dst, "org/app")) == 3  # the first run copied all three
    dst.listing = {"org/app": _listed(dst, "org/app")}
    results = engine()[0].run([job(src, dst, tag=t) for t in ("v1", "v2", "v3")])
    assert [(r.status, r.reason) for r in results] == [("skipped", "up to date")] * 3
    assert dst.count("listed_digests") == 1 and dst.count("digest") == 0
    assert dst.count("prefetch") == 0  # nothing touched the registry: no token was needed
    # The source was asked whether each tag is still that digest, and sent no manifest.
    assert src.count("conditional_manifest") == 3 and src.count("manifest") == 0


def test_one_conditional_source_read_serves_every_destination_and_a_change_is_copied():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"one")
    jobs = [job(src, dst, dst_repo="o1/app"), job(src, dst, dst_repo="o2/app")]
    engine()[0].run(jobs)
    dst.listing = {"o1/app": _listed(dst, "o1/app"), "o2/app": _listed(dst, "o2/app")}
    src.calls = []
    assert [r.status for r in engine()[0].run(jobs)] == ["skipped", "skipped"]
    assert src.count("conditional_manifest") == 1 and src.count("manifest") == 0
    new = image(src, "team/app", "v1", b"changed")  # the tag moved at the source; the listing has the old one
    src.calls = []
    results = engine()[0].run(jobs)
    assert [(r.status, r.digest) for r in results] == [("copied", new), ("copied", new)]
    assert src.count("conditional_manifest") == 1 and src.count("manifest") == 0  # the 200 body was kept and used


def test_platform_filters_and_single_images_take_the_long_way():
    src, dst = synced("v1")
    dst.listing = {"org/app": _listed(dst, "org/app")}
    assert engine(arches=("amd64",))[0].run([job(src, dst)])[0].status == "skipped"
    assert engine(single=True)[0].run([job(src, dst)])[0].status == "skipped"
    assert src.count("conditional_manifest") == 0 and src.count("manifest") == 2


def test_swr_listing_never_denies_a_tag_a_head_then_decides():
    src, dst = synced("v1", "v2")
    # A listing that lags behind: v1 missing, v2 with an old digest. Both are up to date all the same.
    dst.listing = {"org/app": {"v2": "sha256:" + "0" * 64}}
    results = engine()[0].run([job(src, dst, tag="v1"), job(src, dst, tag="v2")])
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert dst.count("digest") == 2 and dst.count("put_manifest") == 0


def test_without_a_listing_or_with_no_swr_listing_each_tag_gets_a_head():
    src, dst = synced("v1")  # dst.listing None: not SWR, or the listing failed
    assert engine()[0].run([job(src, dst)])[0].status == "skipped"
    assert dst.count("digest") == 1
    dst.listing, dst.calls = {"org/app": _listed(dst, "org/app")}, []
    assert engine(listing=False)[0].run([job(src, dst)])[0].status == "skipped"
    assert dst.count("listed_digests") == 0 and dst.count("digest") == 1


def test_dry_run_uses_the_listing_too():
    src, dst = synced("v1", "v2", copy=("v1",))
    dst.listing = {"org/app": _listed(dst, "org/app")}
    results = engine(dry_run=True)[0].run([job(src, dst, tag="v1"), job(src, dst, tag="v2")])
    assert [r.status for r in results] == ["skipped", "planned"]
    assert dst.count("digest") == 1 and dst.count("put_manifest") == 0


# --- jobs that are still arriving --------------------------------------------------------------------

def test_jobs_start_while_later_ones_are_still_being_listed():
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/a", "v1", b"one")
    image(src, "team/b", "v1", b"two")
    eng, events = engine()
    first_done = threading.Event()
    events.finished = lambda result: (first_done.set(), Events.finished(events, result))

    def arriving():
        yield job(src, dst, "team/a", dst_repo="org/a")
        # The next rule is still listing its tags; the first image must not wait for it.
        assert first_done.wait(10), "the first job did not run before the plan was complete"
        yield job(src, dst, "team/b", dst_repo="org/b")

    results = eng.run(arriving(), destinations=[(dst, "org/a"), (dst, "org/b")])
    assert [r.status for r in results] == ["copied", "copied"]
    # One token request for the batch of every destination the rules name, before the first check that
    # needs a token; the organization before that.
    assert dst.count("prefetch") == 1 and dst.calls.index(("ensure_organization", "org")) < dst.calls.index(
        ("prefetch", ("org/a", "org/b")))
    prefetched = dst.calls.index(("prefetch", ("org/a", "org/b")))
    assert all(i > prefetched for i, c in enumerate(dst.calls) if c[0] == "digest")


def test_a_token_batch_waits_for_the_organizations_of_all_its_repositories():
    """A registry token covers only repositories whose organization exists when it is made."""
    src, dst = Memory("src"), Memory("dst")
    image(src, "team/app", "v1", b"one")
    first = job(src, dst, dst_repo="one/app")
    destinations = [(dst, "one/app"), (dst, "two/app")]  # one batch; the job for two/app comes later
    eng, _ = engine()
    assert eng.run([first], destinations)[0].status == "copied"
    prefetched = dst.calls.index(("prefetch", ("one/app", "two/app")))
    assert ("ensure_organization", "two") in dst.calls[:prefetched]
    src2, dst2 = Memory("src"), Memory("dst")
    image(src2, "team/app", "v1", b"one")
    engine(dry_run=True)[0].run([job(src2, dst2, dst_repo="one/app")], [(dst2, "one/app"), (dst2, "two/app")])
    assert dst2.count("prefetch") == 1 and dst2.count("ensure_organization") == 0  # a dry run creates nothing
