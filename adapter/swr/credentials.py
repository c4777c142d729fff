"""SWR credentials: the `<project>@<AK>` Access ID, the long-term login key, and registry hosts."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

# IAM project names: the region (eu-de) or a sub-project (eu-de_otc). AKs are upper-case alphanumerics.
_PROJECT_RE = re.compile(r"^[a-z]{2}-[a-z]+[0-9]*(?:_[A-Za-z0-9-]+)?$")
_AK_RE = re.compile(r"^[A-Z0-9]{16,64}$")
_LOGIN_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_SK_MIN = 16
# Open Telekom Cloud's regions with SWR (swr.md §1.4): Germany, the Netherlands, Switzerland.
OTC_REGIONS = ("eu-de", "eu-nl", "eu-ch2")


class CredentialError(ValueError):
    """A credential that cannot be right; the message says which part and why."""


@dataclass(frozen=True)
class AccessID:
    project: str
    ak: str

    @classmethod
    def parse(cls, text: str) -> "AccessID":
        if not isinstance(text, str) or not text:
            raise CredentialError("access id is empty; expected <project>@<AK>, e.g. eu-de@AKEXAMPLE")
        if text.count("@") != 1:
            raise CredentialError(
                f"access id must contain exactly one '@' between project and AK (<project>@<AK>), "
                f"found {text.count('@')}")
        project, ak = text.split("@")
        if not _PROJECT_RE.match(project):
            raise CredentialError(
                f"project part {project!r} is not an IAM project name such as eu-de or eu-de_myproject")
        if not _AK_RE.match(ak):
            why = "upper-case letters and digits only" if not re.fullmatch(r"[A-Z0-9]*", ak) else f"got {len(ak)}"
            raise CredentialError(f"AK part must be 16 to 64 upper-case letters or digits ({why})")
        return cls(project, ak)

    @property
    def region(self) -> str:
        return self.project.split("_", 1)[0]

    def __str__(self) -> str:
        return f"{self.project}@{self.ak}"


def login_key(ak: str, sk: str) -> str:
    """The long-term registry password: hex HMAC-SHA256 with key = SK over message = AK."""
    if not ak or not sk:
        raise CredentialError("both AK and SK are needed to derive the login key")
    return hmac.new(sk.encode(), ak.encode(), hashlib.sha256).hexdigest()


def is_login_key(secret: str) -> bool:
    """True for a derived login key (64 lower-case hex), False for anything that may be an SK."""
    return bool(secret) and bool(_LOGIN_KEY_RE.match(secret))


def check_secret(secret: str) -> None:
    """Rejects secrets that are neither a login key nor a plausible SK, saying why."""
    if not secret:
        raise CredentialError("secret is empty; expected the SK or the 64-hex login key")
    if re.fullmatch(r"[0-9a-fA-F]+", secret) and len(secret) != 64 and len(secret) < _SK_MIN:
        raise CredentialError(f"secret looks like a hex login key but has {len(secret)} characters, not 64")
    if len(secret) < _SK_MIN:
        raise CredentialError(f"secret is too short ({len(secret)} characters): an SK has at least {_SK_MIN}")


def registry_password(ak: str, secret: str) -> str:
    """The registry password for a secret that is either the SK or already the login key."""
    check_secret(secret)
    return secret if is_login_key(secret) else login_key(ak, secret)


def registry_host(region: str) -> str:
    return "swr.eu-ch2.sc.otc.t-systems.com" if region == "eu-ch2" else f"swr.{region}.otc.t-systems.com"


def api_host(region: str) -> str:
    return "swr-api.eu-ch2.sc.otc.t-systems.com" if region == "eu-ch2" else f"swr-api.{region}.otc.t-systems.com"


def login_command(access_id: AccessID, sk: str, registry: str | None = None) -> str:
    host = registry or registry_host(access_id.region)
    return f"docker login -u {access_id} -p {registry_password(access_id.ak, sk)} {host}"
