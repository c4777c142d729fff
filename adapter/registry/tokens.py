"""Sealed tokens (bearer tokens and upload state) encrypted and authenticated with the instance key."""

from __future__ import annotations

import base64
import json
import os
import time

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(instance_key: bytes, purpose: str) -> Fernet:
    # One key per purpose, so an upload token can never be replayed as a bearer token.
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"swr-bridge", info=purpose.encode()).derive(instance_key)
    return Fernet(base64.urlsafe_b64encode(raw))


class TokenBox:
    """Seals small JSON payloads; any replica with the same instance key can open them."""

    def __init__(self, instance_key: str | bytes):
        key = instance_key.encode() if isinstance(instance_key, str) else instance_key
        if len(key) < 16:
            raise ValueError("the instance key must have at least 16 characters")
        self._boxes = {p: _derive(key, p) for p in ("bearer", "upload")}

    def seal(self, purpose: str, payload: dict, ttl: int) -> str:
        body = dict(payload, exp=int(time.time()) + ttl)
        return self._boxes[purpose].encrypt(json.dumps(body, separators=(",", ":")).encode()).decode()

    def open(self, purpose: str, token: str) -> dict | None:
        """The payload, or None when the token is tampered, foreign or expired."""
        try:
            data = json.loads(self._boxes[purpose].decrypt(token.encode()))
        except (InvalidToken, ValueError, UnicodeError):
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return data


def instance_key_from_env(name: str) -> str:
    """The shared instance key from env `name`; a random one when it is unset, which only the caller knows
    (`serve` decides it once, before gunicorn forks, and hands it to every worker's create_app)."""
    return os.environ.get(name) or base64.urlsafe_b64encode(os.urandom(32)).decode()
