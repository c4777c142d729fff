"""Conversion benchmark: a 2-platform OCI index with an attestation, pushed with Harbor's sequence through the
endpoint (SWR refuses the index, the endpoint stores it as a Docker manifest list), against the same image
already in Docker schema 2 pushed the same way, and straight to the sandbox registry."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import median  # noqa: I001  (bench/ is run as a script)

from adapter.sandbox.front import Strictness
from adapter.sandbox.runner import Sandbox
from adapter.transfer import convert
from tests.harbor_push import DOCKER_REGISTRY, HarborPusher, open_layout
from tests.images import OciLayout, build_index
from tests.integration.endpoint import Endpoint

ORG = "bench-convert"


def docker_form(index, root: Path) -> Path:
    """The same image in Docker schema 2 as an OCI layout (blobs hard-linked, manifests converted)."""
    layout = OciLayout(root)
    for blob in (index.layout / "blobs/sha256").iterdir():
        os.link(blob, layout.root / "blobs/sha256" / blob.name)
    image = convert.convert(index.manifest, convert.OCI_INDEX,
                            lambda d: (index.layout / "blobs/sha256" / d.split(":")[1]).read_bytes())
    for body in [*image.children, image.body]:
        layout.blob_path(convert.sha256_digest(body)).write_bytes(body)
    layout.tag({"mediaType": image.media_type, "digest": image.digest, "size": len(image.body)}, "v2s2")
    return root


def timed(sbx, url: str, user: str, secret: str, layout: Path, repo: str, tag: str) -> tuple[float, int]:
    """Seconds for Harbor's push sequence, and the requests it cost at SWR's registry."""
    before = len(sbx.front.rates.arrivals)
    start = time.perf_counter()
    with HarborPusher(url, user, secret, mode=DOCKER_REGISTRY, backoff=0.0) as pusher:
        result = pusher.copy(open_layout(layout), repo, [tag])
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"push of {repo}:{tag} to {url} failed: {result}")
    return elapsed, len(sbx.front.rates.arrivals) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="pushes per path (alternating)")
    parser.add_argument("--layer-mib", type=int, default=32, help="size of each of the 2 layers per platform")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        tmp = Path(tmp)
        index = build_index(tmp / "oci", "multi", layers=2, layer_size=args.layer_mib * 1024 * 1024, attestation=True)
        v2s2 = docker_form(index, tmp / "v2s2")
        # SWR's checks on, its request rate off: this measures the conversion, not the pacing.
        with Sandbox(tmp / "sbx", org_quota=10, strict=Strictness(push_rate=None)) as sbx:
            tenant = sbx.tenants[0]
            sbx.create_organization(tenant, ORG)
            with Endpoint(tmp, sbx) as ep:
                via = (sbx, ep.url, tenant.access_id, tenant.sk)
                timed(*via, index.layout, f"{ORG}/warmup", "multi")  # not timed: caches and connections
                converted, ready, direct = [], [], []
                for n in range(args.runs):
                    converted.append(timed(*via, index.layout, f"{ORG}/oci{n}", "multi"))
                    ready.append(timed(*via, v2s2, f"{ORG}/v2s2{n}", "v2s2"))
                    direct.append(timed(sbx, sbx.registry_url, tenant.access_id, tenant.login_key, v2s2,
                                        f"{ORG}/direct{n}", "v2s2"))
                    print(f"  run {n}: OCI index converted by the endpoint {converted[-1][0]:.2f}s, v2s2 through "
                          f"the endpoint {ready[-1][0]:.2f}s, v2s2 straight to the registry {direct[-1][0]:.2f}s",
                          flush=True)
    c, r, d = (median(t for t, _ in runs) for runs in (converted, ready, direct))
    size = 2 * 2 * args.layer_mib
    print(f"convert: {size} MiB 2-platform OCI index + attestation, Harbor's push sequence through the endpoint "
          f"(converted) median {c:.2f}s, {converted[0][1]} requests at SWR; the same image as v2s2 through the "
          f"endpoint {r:.2f}s, {ready[0][1]} requests (ratio {c / r:.3f}); straight to the registry {d:.2f}s, "
          f"{direct[0][1]} requests (ratio {c / d:.3f})")


if __name__ == "__main__":
    main()
