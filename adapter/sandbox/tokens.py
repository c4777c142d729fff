"""Registry JWTs that docker-registry verifies: signing key, its certificate, scopes and minting."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "swr-sandbox"
SERVICE = "dockyard"
TOKEN_TTL = 900
KNOWN_ACTIONS = {"pull", "push", "delete", "*"}


class ScopeError(ValueError):
    """A scope string that is not `type:name:actions`."""


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self, actions) -> dict:
        return {"type": self.type, "name": self.name, "actions": sorted(actions)}


def parse_scope(text: str) -> Scope:
    """Parses `repository:org/repo:push,pull`; the name may hold ':' (host:port), actions come last."""
    kind, sep, rest = (text or "").partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not (sep and sep2 and kind and name and actions):
        raise ScopeError(f"scope {text!r} is not type:name:actions")
    parsed = tuple(a.strip() for a in actions.split(",") if a.strip())
    if not parsed:
        raise ScopeError(f"scope {text!r} names no action")
    return Scope(kind, name, parsed)


def libtrust_key_id(public_key) -> str:
    """The key id docker-registry derives for each root certificate (libtrust's fingerprint).

    It is the base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in ':'-joined groups of 4.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def generate_certificate(key_path: Path, cert_path: Path, common_name: str = "swr-sandbox token signer"):
    """Writes a fresh RSA key (mode 0600) and a self-signed certificate for it, valid ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenIssuer:
    """Mints RS256 JWTs whose `kid` names the certificate docker-registry trusts (rootcertbundle)."""

    def __init__(self, key_path: Path, cert_path: Path, *, issuer=ISSUER, service=SERVICE, ttl=TOKEN_TTL):
        self.key_path, self.cert_path = Path(key_path), Path(cert_path)
        self.issuer, self.service, self.ttl = issuer, service, ttl
        self._key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        self.kid = libtrust_key_id(self._key.public_key())

    @classmethod
    def in_directory(cls, directory: Path, **kwargs) -> "TokenIssuer":
        """Loads the signing key from `directory`, generating it on first use so restarts keep it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / "token.key", directory / "token.crt"
        if not (key_path.exists() and cert_path.exists()):
            generate_certificate(key_path, cert_path)
        return cls(key_path, cert_path, **kwargs)

    def mint(self, subject: str, access: list[dict], ttl: int | None = None) -> tuple[str, datetime]:
        """Returns (token, issued_at); `access` is a list of {type, name, actions} grants."""
        now = datetime.now(timezone.utc)
        ttl = self.ttl if ttl is None else ttl
        claims = {
            "iss": self.issuer, "sub": subject, "aud": self.service,
            "exp": int(now.timestamp()) + ttl, "nbf": int(now.timestamp()), "iat": int(now.timestamp()),
            "jti": uuid.uuid4().hex, "access": access,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        return token, now
