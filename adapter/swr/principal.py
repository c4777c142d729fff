"""Who is pushing: the SWR identity behind a request, with its secret kept out of reprs and logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from adapter.swr.credentials import AccessID, is_login_key, login_key


@dataclass(frozen=True)
class Principal:
    access_id: str
    secret: str = field(repr=False)  # the SK or the login key, as Harbor holds it

    # Cached: one principal serves every request of a bearer token (adapter/registry/auth.py), and the
    # parse and the login key's HMAC were done again for each of them.
    @cached_property
    def parsed(self) -> AccessID:
        return AccessID.parse(self.access_id)

    @property
    def ak(self) -> str:
        return self.parsed.ak

    @cached_property
    def password(self) -> str:
        """The registry password: the login key, derived when the secret is the SK."""
        return self.secret if is_login_key(self.secret) else login_key(self.ak, self.secret)

    @property
    def sk(self) -> str | None:
        return None if is_login_key(self.secret) else self.secret
