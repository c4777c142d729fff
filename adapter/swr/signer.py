"""SDK-HMAC-SHA256 request signing for the SWR management API (the APIG "Access=" form)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import requests

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# The SDK hashes only JSON and BSON bodies; any other declared type is sent as UNSIGNED-PAYLOAD.
_HASHED_TYPES = ("application/json", "application/bson")


class SignatureError(ValueError):
    """An Authorization header that cannot be parsed as SDK-HMAC-SHA256."""


def _enc(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    uri = "/".join(_enc(seg) for seg in unquote(path or "/").split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(pairs))


def payload_hash(body: bytes | None, headers: dict[str, str]) -> str:
    if not body:
        return EMPTY_HASH
    for name, value in headers.items():
        if name.lower() == CONTENT_HASH_HEADER.lower():
            return value
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method, path, query, headers, signed, body) -> str:
    """Builds the string to sign; `headers` maps lowercase names to values."""
    canon_headers = "".join(f"{name}:{str(headers[name]).strip()}\n" for name in signed)
    request = "\n".join([
        method.upper(), canonical_uri(path), canonical_query(query),
        canon_headers, ";".join(signed), payload_hash(body, headers),
    ])
    digest = hashlib.sha256(request.encode()).hexdigest()
    return f"{ALGORITHM}\n{headers['x-sdk-date']}\n{digest}"


def signature(sk: str, text: str) -> str:
    return hmac.new(sk.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign(ak, sk, method, url, headers, body=b"", now=None) -> dict[str, str]:
    """Returns `headers` plus X-Sdk-Date, Host and Authorization, signed as the Huawei SDK does.

    Every header whose name has no underscore is signed, as in huaweicloudsdkcore. A Content-Type
    other than JSON/BSON adds a signed `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`, as the SDK does.
    """
    parts = urlsplit(url)
    if isinstance(body, str):
        body = body.encode()
    out = dict(headers)
    lower = {k.lower(): k for k in out}
    content_type = str(out.get(lower.get("content-type", ""), ""))
    if content_type and not content_type.startswith(_HASHED_TYPES):
        out[CONTENT_HASH_HEADER] = UNSIGNED_PAYLOAD
    if "x-sdk-date" not in lower:
        out["X-Sdk-Date"] = (now or datetime.now(timezone.utc)).strftime(DATE_FORMAT)
    if "host" not in lower:
        out["Host"] = parts.netloc
    low = {k.lower(): str(v).strip() for k, v in out.items()}
    signed = sorted(k for k in low if "_" not in k)
    query = parse_qsl(parts.query, keep_blank_values=True)
    sts = string_to_sign(method, parts.path, query, low, signed, body)
    out["Authorization"] = (
        f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed)}, Signature={signature(sk, sts)}"
    )
    return out


@dataclass(frozen=True)
class ParsedAuthorization:
    access: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization:
    """Parses `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`; raises SignatureError."""
    if not value or not value.startswith(ALGORITHM + " "):
        raise SignatureError(f"Authorization must start with '{ALGORITHM} '")
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed Authorization part {part.strip()!r}")
        fields[key] = val
    missing = [k for k in ("Access", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise SignatureError(f"Authorization lacks {', '.join(missing)}")
    signed = fields["SignedHeaders"].split(";")
    if "x-sdk-date" not in signed or "host" not in signed:
        raise SignatureError("SignedHeaders must include host and x-sdk-date")
    return ParsedAuthorization(fields["Access"], signed, fields["Signature"])


def verify(sk, parsed: ParsedAuthorization, method, path, query, headers, body) -> bool:
    """Recomputes the signature server-side; `headers` maps lowercase names to values."""
    if any(name not in headers for name in parsed.signed_headers):
        return False
    sts = string_to_sign(method, path, query, headers, parsed.signed_headers, body)
    return hmac.compare_digest(signature(sk, sts), parsed.signature)


class SdkHmacSha256Auth(requests.auth.AuthBase):
    """requests auth that signs each request with AK/SK, optionally scoped by X-Project-Id."""

    # Headers that requests or urllib3 may rewrite after signing are left unsigned.
    _UNSIGNED = {"connection", "accept-encoding", "content-length", "transfer-encoding", "user-agent"}

    def __init__(self, ak: str, sk: str, project_id: str | None = None):
        self.ak, self._sk, self.project_id = ak, sk, project_id

    def __repr__(self):  # never show the SK
        return f"SdkHmacSha256Auth(ak={self.ak!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.project_id:
            r.headers["X-Project-Id"] = self.project_id
        body = r.body.encode() if isinstance(r.body, str) else (r.body or b"")
        if not isinstance(body, bytes):
            raise TypeError("SdkHmacSha256Auth cannot sign a streamed body")
        # Send the query exactly as it was canonicalized (%20, sorted), as the SDK does: requests
        # writes spaces as '+', which a gateway may read differently from the signer.
        parts = urlsplit(r.url)
        query = canonical_query(parse_qsl(parts.query, keep_blank_values=True))
        r.url = urlunsplit(parts._replace(query=query))
        chosen = {k: v for k, v in r.headers.items() if k.lower() not in self._UNSIGNED}
        signed = sign(self.ak, self._sk, r.method, r.url, chosen, body)
        for name, value in signed.items():
            if chosen.get(name) != value:
                r.headers[name] = value
        return r
