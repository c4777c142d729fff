"""Manifests (byte-exact), tag lists, referrers and the catalog, on mapped repository names."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote

from flask import Response, jsonify, request

from adapter.registry.blobs import _fail, scopes
from adapter.registry.errors import RegistryError
from adapter.registry.relay import stream_response
from adapter.registry.service import grant, service
from adapter.swr.naming import NamingError, check_tag
from adapter.transfer import convert
from adapter.transfer.oci import (
    ACCEPT,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_MANIFEST,
    is_digest,
    sha256_digest,
)
from adapter.transfer.streams import copy_headers, read_limited

log = logging.getLogger(__name__)

MAX_MANIFEST = 4 * 1024 * 1024
LINK_RE = re.compile(r"<([^>]*)>")
INDEX_REFUSED = ("SWR refuses OCI image indexes ({}), and this bridge is set to pass that on "
                 "(manifests.oci_index: refuse). To replicate this image, set manifests.oci_index: convert in the "
                 "bridge's config (it is then stored as a Docker manifest list, under a new digest), or build it "
                 "as a Docker manifest list (buildx --output oci-mediatypes=false, or skopeo copy --format v2s2)")


def _accept() -> str:
    # Without Accept the upstream could down-convert; ask for every type so the stored bytes come back.
    given = request.headers.get("Accept", "")
    return given if any(t in given for t in MANIFEST_TYPES) else ACCEPT


def get_manifest(name: str, ref: str) -> Response:
    svc = service()
    dest = svc.map_name(name)
    resp = svc.upstream.request(grant().principal, request.method, f"/v2/{dest}/manifests/{ref}",
                                scopes(dest, "pull"), headers={"Accept": _accept()})
    if resp.status_code != 200:
        raise _fail(resp)
    if request.method == "HEAD":
        resp.close()
        return Response(None, status=200, headers=copy_headers(resp))
    return stream_response(resp)


def _read_manifest() -> bytes:
    if (request.content_length or 0) > MAX_MANIFEST:
        raise RegistryError("SIZE_INVALID", f"manifest exceeds {MAX_MANIFEST} bytes", status=413)
    body = request.stream.read(MAX_MANIFEST + 1)
    if len(body) > MAX_MANIFEST:
        raise RegistryError("SIZE_INVALID", f"manifest exceeds {MAX_MANIFEST} bytes", status=413)
    return body


def _check_manifest(body: bytes) -> str:
    """The media type to send: Content-Type, which must agree with the manifest's own mediaType."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise RegistryError("MANIFEST_INVALID", "manifest is not valid JSON (or nested too deeply)") from None
    if not isinstance(doc, dict):
        raise RegistryError("MANIFEST_INVALID", "manifest must be a JSON object")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    media_type = doc.get("mediaType")
    for what, value in (("mediaType", media_type), ("Content-Type", content_type or None)):
        if value is not None and value not in MANIFEST_TYPES:
            raise RegistryError("MANIFEST_INVALID", f"{what} {str(value)[:100]!r} is not a manifest type "
                                f"({', '.join(MANIFEST_TYPES)})")
    if media_type and content_type and media_type != content_type:
        raise RegistryError("MANIFEST_INVALID",
                            f"mediaType {media_type!r} does not agree with Content-Type {content_type!r}")
    chosen = content_type or media_type
    if not chosen:
        raise RegistryError("MANIFEST_INVALID", "neither Content-Type nor mediaType names the manifest type")
    _check_shape(doc, chosen)
    return chosen


IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)


def _check_shape(doc: dict, media_type: str) -> None:
    """The fields a registry needs of an image manifest or an index, checked here so that a malformed
    one is the client's 400 and never an upstream error (docker-registry answers 500 to some)."""
    def descriptor(item, where: str) -> None:
        if not (isinstance(item, dict) and isinstance(item.get("digest"), str) and is_digest(item["digest"])
                and type(item.get("size")) is int and item["size"] >= 0):
            raise RegistryError("MANIFEST_INVALID", f"{where} must be a descriptor with a digest and a size")

    if media_type in IMAGE_TYPES or media_type in INDEX_TYPES:
        if doc.get("schemaVersion") != 2:
            raise RegistryError("MANIFEST_INVALID", "schemaVersion must be 2")
    if media_type in IMAGE_TYPES:
        descriptor(doc.get("config"), "config")
        if not isinstance(doc.get("layers"), list):
            raise RegistryError("MANIFEST_INVALID", "layers must be a list")
        for i, layer in enumerate(doc["layers"]):
            descriptor(layer, f"layers[{i}]")
    elif media_type in INDEX_TYPES:
        if not isinstance(doc.get("manifests"), list):
            raise RegistryError("MANIFEST_INVALID", "manifests must be a list")
        for i, child in enumerate(doc["manifests"]):
            descriptor(child, f"manifests[{i}]")


def _check_reference(ref: str, body: bytes) -> str:
    digest = sha256_digest(body)
    if ref.startswith("sha256:"):
        if ref != digest:
            raise RegistryError("DIGEST_INVALID", f"manifest digest {digest} does not match {ref}")
    elif not is_digest(ref):
        try:
            check_tag(ref)
        except NamingError as exc:
            raise RegistryError("NAME_INVALID", str(exc), detail={"tag": ref}) from None
    return digest


def put_manifest(name: str, ref: str) -> Response:
    svc, principal = service(), grant().principal
    dest = svc.map_name(name)
    body = _read_manifest()
    media_type = _check_manifest(body)
    digest = _check_reference(ref, body)
    svc.orgs.ensure(principal, dest.split("/")[0])
    resp = _push(dest, ref, body, media_type)
    if resp.status_code == 400 and media_type == convert.OCI_INDEX:
        refusal = _fail(resp)
        if not convert.refused_index(refusal.code, refusal.message):
            raise refusal
        digest = _converted(dest, ref, body, refusal)
        return Response(None, status=201, headers={"Location": f"/v2/{name}/manifests/{digest}",
                                                   "Content-Length": "0", "Docker-Content-Digest": digest})
    if resp.status_code != 201:
        raise _fail(resp)
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Content-Length": "0",
               "Docker-Content-Digest": resp.headers.get("Docker-Content-Digest", digest)}
    if "OCI-Subject" in resp.headers:
        headers["OCI-Subject"] = resp.headers["OCI-Subject"]
    return Response(None, status=201, headers=headers)


def _push(dest: str, ref: str, body: bytes, media_type: str):
    return service().upstream.request(grant().principal, "PUT", f"/v2/{dest}/manifests/{ref}", scopes(dest, "push"),
                                      data=body, headers={"Content-Type": media_type}, stream=False)


def _converted(dest: str, ref: str, body: bytes, refusal: RegistryError) -> str:
    """SWR refused the OCI index: push it as a Docker manifest list. The members Harbor pushed before it
    are read back from SWR and pushed again with Docker media types (same blobs), then the list goes
    under `ref` (a digest reference gets the list's own digest). Returns the list's digest."""
    if service().config.manifests.oci_index == "refuse":
        raise RegistryError("MANIFEST_INVALID", INDEX_REFUSED.format(refusal.message))
    try:
        image = convert.docker_list(body, lambda digest: _read_back(dest, digest))
    except convert.ConversionError as exc:
        raise RegistryError("MANIFEST_INVALID", f"SWR refuses OCI image indexes ({refusal.message}) and this one "
                                                f"has no Docker form: {exc}") from None
    for child in image.children:
        resp = _push(dest, convert.sha256_digest(child), child, convert.DOCKER_MANIFEST)
        if resp.status_code != 201:
            raise _fail(resp)
    target = image.digest if is_digest(ref) else ref
    resp = _push(dest, target, image.body, image.media_type)
    if resp.status_code != 201:
        raise _fail(resp)
    log.info("OCI index for %s:%s pushed as Docker manifest list %s (%d platform(s), %d attestation(s) left out)",
             dest, ref, image.digest, len(image.children), image.dropped)
    return image.digest


def _read_back(dest: str, digest: str) -> bytes:
    resp = service().upstream.request(grant().principal, "GET", f"/v2/{dest}/manifests/{digest}",
                                      scopes(dest, "pull"), headers={"Accept": ACCEPT})
    if resp.status_code != 200:
        raise _fail(resp)
    return read_limited(resp, MAX_MANIFEST)


def delete_manifest(name: str, ref: str) -> Response:
    svc = service()
    dest = svc.map_name(name)
    resp = svc.upstream.request(grant().principal, "DELETE", f"/v2/{dest}/manifests/{ref}",
                                scopes(dest, "delete"), stream=False)
    if resp.status_code in (400, 405) and not is_digest(ref):
        # Harbor's huawei-SWR adapter deletes by tag; a registry that deletes only by digest
        # (distribution answers 400 DIGEST_INVALID) gets the digest the tag points at.
        resp.close()
        resp = svc.upstream.request(grant().principal, "DELETE", f"/v2/{dest}/manifests/{_resolve(dest, ref)}",
                                    scopes(dest, "delete"), stream=False)
    if resp.status_code != 202:
        raise _fail(resp)
    return Response(None, status=202)


def _resolve(dest: str, tag: str) -> str:
    resp = service().upstream.request(grant().principal, "HEAD", f"/v2/{dest}/manifests/{tag}",
                                      scopes(dest, "delete"), headers={"Accept": ACCEPT},
                                      stream=False)
    digest = resp.headers.get("Docker-Content-Digest", "")
    if resp.status_code != 200 or not is_digest(digest):
        raise _fail(resp) if resp.status_code != 200 else RegistryError(
            "UPSTREAM_ERROR", f"SWR gave no digest for {tag}", status=502)
    resp.close()
    return digest


def _rewrite_link(link: str, upstream_path: str, client_path: str) -> str:
    return LINK_RE.sub(lambda m: "<" + m.group(1).replace(upstream_path, client_path, 1) + ">", link)


def list_tags(name: str) -> Response:
    svc = service()
    dest = svc.map_name(name)
    params = {k: request.args[k] for k in ("n", "last") if k in request.args}
    resp = svc.upstream.request(grant().principal, "GET", f"/v2/{dest}/tags/list", scopes(dest, "pull"),
                                params=params)
    if resp.status_code != 200:
        raise _fail(resp)
    link = resp.headers.get("Link")
    try:
        tags = json.loads(read_limited(resp, 16 * 1024 * 1024) or b"{}").get("tags") or []
    except (ValueError, RecursionError, AttributeError):
        raise RegistryError("UPSTREAM_ERROR", "SWR's tag list is not a JSON object", status=502) from None
    if link:
        link = _rewrite_link(link, f"/v2/{dest}/", f"/v2/{name}/")
    else:
        tags, link = _paginate(tags, f"/v2/{name}/tags/list", request.args.get("last"),
                               request.args.get("n", type=int))
    out = jsonify({"name": name, "tags": tags})
    if link:
        out.headers["Link"] = link
    return out


def _paginate(items: list[str], path: str, last: str | None, n: int | None) -> tuple[list[str], str | None]:
    """Sorts, applies n/last and links the next page of `path` (for tags when the upstream ignored
    them, as distribution 2.8 does, and for the catalog)."""
    items = sorted(items)
    if last:
        items = [t for t in items if t > last]
    if n is None or n < 0 or len(items) <= n:
        return items, None
    page = items[:n]
    return page, f'<{path}?last={quote(page[-1])}&n={n}>; rel="next"' if page else None


def referrers(name: str, digest: str) -> Response:
    svc = service()
    dest = svc.map_name(name)
    params = {"artifactType": request.args["artifactType"]} if "artifactType" in request.args else None
    resp = svc.upstream.request(grant().principal, "GET", f"/v2/{dest}/referrers/{digest}",
                                scopes(dest, "pull"), params=params)
    if resp.status_code != 200:
        raise _fail(resp)
    return stream_response(resp, headers=copy_headers(resp, ("Content-Type", "Content-Length", "OCI-Filters-Applied")))


CATALOG_PAGE = 1000  # distribution's page size when the client sends no `n`


def catalog() -> Response:
    """The caller's own repositories, from the SWR API, sorted and paged by n/last with a `Link` to
    the next page. Harbor's pull-mode FetchArtifacts reads `_catalog` and then `tags/list` for every
    name, and one unreadable name fails the whole fetch: a registry-wide catalog (what
    docker-registry answers) would list other accounts' repositories, and SWR has none to relay."""
    svc = service()
    names = {svc.unmap_name(full) for full in _own_repositories()}
    page, link = _paginate(list(names), "/v2/_catalog", request.args.get("last"),
                           request.args.get("n", default=CATALOG_PAGE, type=int))
    out = jsonify({"repositories": page})
    if link:
        out.headers["Link"] = link
    return out


def _own_repositories() -> list[str]:
    from adapter.swr import api

    try:
        entries = service().orgs.client(grant().principal).list_repositories()
    except api.SwrAuthError as exc:
        raise RegistryError("DENIED", f"SWR refused to list repositories: {exc.message}", status=403) from None
    except api.SwrUnreachable as exc:
        code = "UPSTREAM_TIMEOUT" if exc.kind == "timeout" else "UPSTREAM_UNREACHABLE"
        raise RegistryError(code, "SWR management API is unreachable") from None
    except api.SwrError as exc:
        raise RegistryError("UPSTREAM_ERROR", f"SWR could not list repositories: {exc}", status=502) from None
    return [f"{e['namespace']}/{e['name']}" for e in entries
            if isinstance(e, dict) and e.get("namespace") and e.get("name")]
