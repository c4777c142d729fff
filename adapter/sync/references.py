"""Image references as image-syncer writes them: `host/repo`, `:tag`, `:t1,t2`, `:/regex/`, `@digest`.

A source may also be an OCI layout directory, `oci:PATH[:tags]`, as skopeo names it. A destination
may leave out its host and organization; `--registry` and `--namespace` fill them in (image-syncer's
default registry and namespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from adapter.swr.naming import NAME_MAX, OCI_COMPONENT_RE, TAG_RE
from adapter.sync.errors import InputError, Leniency
from adapter.transfer.oci import is_digest

DOCKER_HUB = "docker.io"
HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class Ref:
    """A repository (`host` + `repository`, or an OCI layout when `layout` is set) and what to take of it.

    No tags, regex or digest means every tag. A digest with a tag (`repo:tag@digest`) is that digest,
    tagged `tag` where its destination names no tag.
    """

    host: str
    repository: str
    tags: tuple[str, ...] = ()
    regex: str | None = None
    digest: str | None = None
    layout: str | None = None
    text: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return f"oci:{self.layout}" if self.layout else f"{self.host}/{self.repository}"

    def at(self, reference: str) -> str:
        """`name:tag` or `name@digest`, for reports."""
        return f"{self.name}{'@' if is_digest(reference) else ':'}{reference}"


def is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def normal_host(host: str) -> str:
    """A registry host in lower case, Docker Hub's aliases as docker.io."""
    host = host.lower()
    return DOCKER_HUB if host in HUB_ALIASES else host


def _tag_at_digest(base: str, digest: str, where: str, lenient: Leniency) -> tuple[str, dict]:
    """`repo:tag@digest`: image-syncer reads the digest; the tag is kept for the destination."""
    head, _, last = base.rpartition("/")
    if ":" not in last:
        return base, {"digest": digest}
    name, tag = last.split(":", 1)
    if not TAG_RE.fullmatch(tag):
        raise InputError(where, f"tag {tag!r} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})")
    lenient.allow(where, "a reference has a tag and a digest",
                  f"{tag}@{digest[:19]}...: the digest is copied and tagged {tag!r} where the destination names "
                  "no tag")
    return f"{head}/{name}" if head else name, {"digest": digest, "tags": (tag,)}


def _selector(text: str, where: str, lenient: Leniency) -> tuple[str, dict]:
    """Splits `base` from its tag list, regex or digest."""
    if ":/" in text and text.endswith("/") and len(text.split(":/", 1)[1]) > 1:
        base, regex = text.split(":/", 1)
        regex = regex[:-1]
        try:
            re.compile(regex)
        except re.error as exc:
            raise InputError(where, f"tag regex /{regex}/ is not a valid regular expression: {exc}") from None
        return base, {"regex": regex}
    if "@" in text:
        base, digest = text.rsplit("@", 1)
        if not is_digest(digest):
            raise InputError(where, f"digest {digest!r} is not sha256:<64 hex> or sha512:<128 hex>")
        return _tag_at_digest(base, digest, where, lenient)
    base, sep, tail = text.rpartition(":")
    if not sep or "/" in tail:
        return text, {}
    tags = tuple(t.strip() for t in tail.split(","))
    for tag in tags:
        if not TAG_RE.fullmatch(tag):
            raise InputError(where, f"tag {tag!r} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})")
    return base, {"tags": tags}


def _split_host(base: str, where: str) -> tuple[str, str]:
    parts = base.split("/")
    if len(parts) > 1 and is_host(parts[0]):
        host, repo = normal_host(parts[0]), "/".join(parts[1:])
    else:
        host, repo = DOCKER_HUB, base
    if host == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    if len(repo) > NAME_MAX:  # every registry refuses it: said here, once, not after a failed copy per tag
        raise InputError(where, f"repository {repo[:60]!r}... is {len(repo)} characters; the OCI limit is {NAME_MAX}")
    for component in repo.split("/"):
        if not OCI_COMPONENT_RE.fullmatch(component):
            raise InputError(where, f"repository {repo!r}: path component {component!r} is not a valid name "
                                    "(lowercase letters, digits and single separators)")
    return host, repo


def parse(text: str, where: str, *, allow_regex: bool = True, allow_layout: bool = True,
          lenient: Leniency | None = None) -> Ref:
    """Parses one reference; `where` names its place for errors (file and key, or a flag)."""
    lenient = lenient or Leniency()
    if not isinstance(text, str) or not text.strip():
        raise InputError(where, "the image reference is empty")
    text = text.strip()
    if text.startswith("oci:"):
        if not allow_layout:
            raise InputError(where, "an OCI layout (oci:PATH) can only be a source")
        path, selector = _selector(text[4:], where, lenient)
        if not path:
            raise InputError(where, "oci: needs a directory path, e.g. oci:/data/layout:v1")
        ref = Ref("", path.rstrip("/").rsplit("/", 1)[-1].lower(), layout=path, text=text, **selector)
    else:
        base, selector = _selector(text, where, lenient)
        ref = Ref(*_split_host(base, where), text=text, **selector)
    if ref.regex is not None and not allow_regex:
        raise InputError(where, "a destination cannot select tags with a regex")
    return ref


def fill_destination(text, source: Ref, registry: str | None, namespace: str | None, where: str,
                     lenient: Leniency | None = None) -> Ref:
    """A destination with what it leaves out taken from --registry and --namespace.

    "" (or nothing) means `registry/namespace/<source repository without its first level>`; `repo` means
    `registry/namespace/repo`; `org/repo` means `registry/org/repo`. A destination with a host is kept.
    """
    text = (text or "").strip()
    first = text.split("/", 1)[0]
    if text and "/" in text and is_host(first):
        return parse(text, where, allow_regex=False, allow_layout=False, lenient=lenient)
    if not registry:
        raise InputError(where, f"destination {text or '(empty)'!r} names no registry host; write "
                                "host/organization/repository or pass --registry")
    levels = 0 if not text else text.split(":", 1)[0].split("@", 1)[0].count("/") + 1
    if levels < 2 and not namespace:
        raise InputError(where, f"destination {text or '(empty)'!r} names no organization; write "
                                "organization/repository or pass --namespace")
    if not text:
        tail = source.repository.split("/", 1)[-1]
        return replace(parse(f"{registry}/{namespace}/{tail}", where, allow_regex=False), text="")
    prefix = f"{registry}/{namespace}" if levels < 2 else registry
    return replace(parse(f"{prefix}/{text}", where, allow_regex=False, allow_layout=False, lenient=lenient),
                   text=text)


def pair_tags(source_refs: list[str], dest: Ref, where: str) -> list[tuple[str, str]]:
    """(source reference, destination reference) pairs: same names, or renamed left to right."""
    if dest.digest:
        if source_refs != [dest.digest]:
            raise InputError(where, "a destination digest must be the source's digest")
        return [(dest.digest, dest.tags[0] if dest.tags else dest.digest)]
    if not dest.tags:
        return [(r, r) for r in source_refs]
    if len(dest.tags) != len(source_refs):
        raise InputError(where, f"the destination names {len(dest.tags)} tag(s) but the source selects "
                                f"{len(source_refs)}; they are paired left to right")
    return list(zip(source_refs, dest.tags, strict=True))
