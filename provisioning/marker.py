"""The swr-bridge marker in descriptions: "managed by swr-bridge", plus the access_secret fingerprint."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# Harbor never returns a registry's secret (GET shows "*****"), so a changed secret cannot be seen by
# comparing. apply therefore stores a salted, slow hash of the secret it sent in the registry's
# description, e.g. `relay to SWR [swr-bridge secret=pbkdf2-sha256$100000$<salt>$<hash>]`, and plan
# recomputes it with the stored salt. The marker also tells `--prune` which objects swr-bridge owns.
ITERATIONS = 100_000
SCHEME = "pbkdf2-sha256"
_MARK_RE = re.compile(r"\s*\[swr-bridge(?: secret=(" + SCHEME + r"\$\d+\$[0-9a-f]+\$[0-9a-f]+))?\]\s*$")


def fingerprint(secret: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    """`pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>` of `secret`, with a fresh salt unless given."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), iterations, dklen=16)
    return f"{SCHEME}${iterations}${salt}${digest.hex()}"


def matches(stored: str | None, secret: str) -> bool:
    """Whether `stored` (a fingerprint) was made from `secret`."""
    if not stored:
        return False
    _, iterations, salt, _ = stored.split("$")
    return hmac.compare_digest(fingerprint(secret, salt, int(iterations)), stored)


def split(description: str | None) -> tuple[str, bool, str | None]:
    """(the human part, whether the marker is there, the stored fingerprint or None)."""
    text = description or ""
    found = _MARK_RE.search(text)
    if not found:
        return text, False, None
    return text[:found.start()], True, found.group(1)


def mark(description: str, secret_fingerprint: str | None = None) -> str:
    """The description with the marker (and fingerprint) appended."""
    tag = f"[swr-bridge secret={secret_fingerprint}]" if secret_fingerprint else "[swr-bridge]"
    return f"{description} {tag}" if description else tag
