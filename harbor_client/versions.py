"""Harbor version parsing and gating of request fields by the version that introduced them."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from harbor_client.errors import UnsupportedByHarborVersion


class HarborVersion(NamedTuple):
    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


# systeminfo's harbor_version is "<VERSION>-<8-char commit>", e.g. "v2.15.2-080b0220" (harbor.md §4.2).
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> HarborVersion | None:
    """`"v2.15.2-080b0220"` -> HarborVersion(2, 15, 2); None when there is no leading version number."""
    match = _VERSION_RE.match((text or "").strip())
    if not match:
        return None
    major, minor, patch = match.groups()
    return HarborVersion(int(major), int(minor), int(patch or 0))


# First Harbor release whose swagger carries the field (harbor.md §0). Older Harbors drop such a field
# without a word, so setting one there must fail loudly instead.
FIELD_VERSIONS: dict[str, dict[str, HarborVersion]] = {
    "ReplicationPolicy": {
        "dest_namespace_replace_count": HarborVersion(2, 3),
        "speed": HarborVersion(2, 4),
        "copy_by_chunk": HarborVersion(2, 7),
        "single_active_replication": HarborVersion(2, 14),
    },
    "WebhookTargetObject": {"payload_format": HarborVersion(2, 8)},
    "Registry": {"ca_certificate": HarborVersion(2, 15)},
    "RegistryUpdate": {"ca_certificate": HarborVersion(2, 15)},
    "RegistryPing": {"ca_certificate": HarborVersion(2, 15)},
}

# Bodies that embed other gated definitions.
_NESTED: dict[str, dict[str, str]] = {"WebhookPolicy": {"targets": "WebhookTargetObject"}}


def gated_fields(definition: str, body: dict[str, Any]) -> list[tuple[str, HarborVersion]]:
    """The gated fields that are set in `body` (recursing into nested definitions)."""
    found = [(name, since) for name, since in FIELD_VERSIONS.get(definition, {}).items()
             if body.get(name) is not None]
    for key, inner in _NESTED.get(definition, {}).items():
        for item in body.get(key) or []:
            found.extend(gated_fields(inner, item))
    return found


def check_fields(definition: str, body: dict[str, Any], version: HarborVersion | None) -> None:
    """Raise UnsupportedByHarborVersion for the first gated field `version` predates.

    An unknown version (a dev build without a number) is not gated: refusing every gated field there
    would block the newest Harbors, which are the likeliest to run unnumbered builds.
    """
    if version is None:
        return
    for name, since in gated_fields(definition, body):
        if version < since:
            raise UnsupportedByHarborVersion(name, str(since), str(version))


# REPLICATION webhooks carry execution_id and task_id from this release on (harbor.md §5.7).
WEBHOOK_IDS = HarborVersion(2, 13)


def shown(version: HarborVersion | None) -> str:
    return str(version) if version else "unknown (Harbor does not say)"


def webhook_note(version: HarborVersion | None) -> str | None:
    """The one line `apply` prints when the webhooks it creates will deliver events without ids."""
    if version is None or version >= WEBHOOK_IDS:
        return None
    return (f"Harbor {version} sends REPLICATION webhooks without execution or task ids (they came in 2.13): "
            "the bridge groups them by Harbor host, destination, rule description and start time, and finds "
            "each execution's id in Harbor's API when its webhooks.harbor is set.")
