"""adapter.swr.signer agrees with huaweicloudsdkcore's Signer, and SdkHmacSha256Auth signs what requests sends."""

from __future__ import annotations

import random
from datetime import datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest
import requests
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from adapter.swr import signer

HOST = "swr-api.eu-de.otc.t-systems.com"
AK, SK = "AKEXAMPLE0123456789A", "sk-example-0123456789abcdefghijklmnopqrst"


def sdk_sign(ak, sk, method, host, path, query, headers, body):
    """Signs with the official SDK; returns its header_params (Authorization included)."""
    request = SdkRequest(method=method, schema="https", host=host, resource_path=path,
                         query_params=list(query), header_params=dict(headers), body=body)
    Signer(SimpleNamespace(ak=ak, sk=sk)).sign(request)
    return request.header_params


def our_sign(ak, sk, method, host, path, query, headers, body, now=None):
    url = f"https://{host}{path}" + (f"?{urlencode(query, quote_via=quote)}" if query else "")
    return signer.sign(ak, sk, method, url, headers, body, now=now)


# --- the SDK's published vectors (swr.md §3.2, huaweicloud-sdk-core tests/test_signer.py) ---

VECTOR_HEADERS = {"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "TEST_VALUE"}
VECTOR_HOST = "service.endpoint.myhuaweicloud.com"


@pytest.mark.parametrize("method, body, expected", [
    ("GET", "", "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
                "Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"),
    ("POST", '{"name":"test","id":1}', "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
                                       "Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"),
], ids=["test_signer1", "test_signer2"])
def test_published_vectors(method, body, expected):
    args = ("AccessKey", "SecretKey", method, VECTOR_HOST, "/resources", [("size", "1")], VECTOR_HEADERS, body)
    assert our_sign(*args)["Authorization"] == expected
    assert sdk_sign(*args)["Authorization"] == expected


def test_vector_string_to_sign_and_payload_hash():
    headers = {"host": VECTOR_HOST, "x-sdk-date": "20200608T023900Z"}
    sts = signer.string_to_sign("GET", "/resources", [("size", "1")], headers, ["host", "x-sdk-date"], b"")
    assert sts == ("SDK-HMAC-SHA256\n20200608T023900Z\n"
                   "de94dd1e1ccdb730b403ce35d7e14f7c7b04337f6def1c3a3a2ba936852b133f")
    assert signer.payload_hash(b'{"name":"test","id":1}', {}) == (
        "8ed555081b9961769014bc1182c629bb0fe68d7b01c1fc1caab4dc791f377e8c")


def test_query_canonicalization_vector():
    typed = [("limit", 1), ("enable", True), ("test", "一 (&=?!#%.*)"), ("path", "/tmp/123"), ("multi", [1, 2, 3])]
    expected = ("enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123"
                "&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29")
    sdk_request = SdkRequest(query_params=[(k, list(v) if isinstance(v, list) else v) for k, v in typed])
    assert Signer.process_canonical_query_string(sdk_request) == expected
    # On the wire the typed values are plain strings: True as "true", a list as a repeated key.
    flat = [(k, str(x)) for k, v in typed for x in (v if isinstance(v, list) else [v])]
    flat = [(k, "true" if v == "True" else v) for k, v in flat]
    query = urlencode(flat, quote_via=quote)
    assert signer.canonical_query(parse_qsl(query, keep_blank_values=True)) == expected


def test_canonical_uri_of_a_dollar_repository():
    assert signer.canonical_uri("/v2/manage/namespaces/org/repos/a%24b") == "/v2/manage/namespaces/org/repos/a%24b/"
    assert signer.canonical_uri("/v2/manage/namespaces/org/repos/a$b") == "/v2/manage/namespaces/org/repos/a%24b/"
    assert signer.canonical_uri("") == "/"


# --- generated requests: ours and the SDK's must agree on every one ---

SEGMENTS = ["v2", "manage", "namespaces", "org", "a$b", "a%24b", "ünï", "with space", "x~y", "a+b",
            "semi;colon", "dot.name", "%E4%B8%80", "一", "100%", "a%2Fb", "", "UPPER", "q=1&r"]
KEYS = ["limit", "offset", "namespace", "ü", "a b", "filter", "x", "multi"]
VALUES = ["1", "0", "center::self", "一 (&=?!#%.*)", "", "a+b", "é", "/tmp/123", "x y"]
CONTENT_TYPES = [None, "application/json", "application/json;charset=utf-8", "text/plain",
                 "application/octet-stream", "application/bson"]
BODIES = [b"", None, '{"namespace":"org"}', '{"名":"ü"}', b"\x00\xffbinary", b'{"a": [1, 2, 3]}']


def generated_request(seed: int) -> dict:
    rnd = random.Random(seed)
    path = "/" + "/".join(rnd.choice(SEGMENTS) for _ in range(rnd.randint(1, 5)))
    if rnd.random() < 0.2:
        path += "/"
    query = [(rnd.choice(KEYS), rnd.choice(VALUES)) for _ in range(rnd.randint(0, 5))]
    headers = {"X-Project-Id": "0123456789abcdef", "X-Custom": "  padded value  "} if rnd.random() < 0.5 else {}
    if rnd.random() < 0.3:
        headers["TEST_UNDERSCORE"] = "ignored"
    content_type = rnd.choice(CONTENT_TYPES)
    if content_type:
        headers["Content-Type"] = content_type
    if rnd.random() < 0.8:
        headers["X-Sdk-Date"] = f"2024{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}0000Z"
    method = rnd.choice(["GET", "POST", "PUT", "DELETE", "PATCH"])
    return {"method": method, "path": path, "query": query, "headers": headers, "body": rnd.choice(BODIES)}


@pytest.mark.parametrize("seed", range(120))
def test_agrees_with_sdk_on_generated_request(seed):
    case = generated_request(seed)
    theirs = sdk_sign(AK, SK, case["method"], HOST, case["path"], case["query"], case["headers"], case["body"])
    # Without X-Sdk-Date the SDK stamps utcnow(); sign ours at the same instant.
    now = datetime.strptime(theirs["X-Sdk-Date"], signer.DATE_FORMAT)
    ours = our_sign(AK, SK, case["method"], HOST, case["path"], case["query"], case["headers"], case["body"], now)
    assert ours["Authorization"] == theirs["Authorization"], case
    assert ours.get(signer.CONTENT_HASH_HEADER) == theirs.get(signer.CONTENT_HASH_HEADER)


def test_generated_requests_cover_the_brief():
    cases = [generated_request(seed) for seed in range(120)]
    assert {c["method"] for c in cases} == {"GET", "POST", "PUT", "DELETE", "PATCH"}
    for needle in ("$", "%24", "ü", " "):
        assert any(needle in c["path"] for c in cases), needle
    assert any(len({k for k, _ in c["query"]}) < len(c["query"]) for c in cases)  # repeated keys
    assert any(any(ord(ch) > 127 for pair in c["query"] for ch in "".join(pair)) for c in cases)
    assert any(c["body"] for c in cases) and any(not c["body"] for c in cases)
    assert any(c["headers"].get("Content-Type", "").startswith("application/json") for c in cases)
    assert any("Content-Type" not in c["headers"] for c in cases)
    assert any(c["headers"].get("Content-Type") == "text/plain" for c in cases)


def test_non_json_content_type_is_unsigned_payload_and_signed_header():
    out = our_sign(AK, SK, "PUT", HOST, "/x", [], {"Content-Type": "text/plain"}, b"whatever")
    assert out[signer.CONTENT_HASH_HEADER] == "UNSIGNED-PAYLOAD"
    assert "x-sdk-content-sha256" in signer.parse_authorization(out["Authorization"]).signed_headers


def test_sign_adds_date_and_host_without_overwriting_given_ones():
    out = signer.sign(AK, SK, "GET", f"https://{HOST}/v2", {"host": "other.example"},
                      now=datetime(2024, 1, 2, 3, 4, 5))
    assert out["X-Sdk-Date"] == "20240102T030405Z"
    assert "Host" not in out and out["host"] == "other.example"


# --- parse_authorization / verify ---

@pytest.mark.parametrize("value, needle", [
    ("", "must start with"),
    ("Basic abc", "must start with"),
    ("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date", "Signature"),
    ("SDK-HMAC-SHA256 Access=a, junk, Signature=s", "malformed"),
    ("SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=s", "x-sdk-date"),
])
def test_parse_authorization_rejects(value, needle):
    with pytest.raises(signer.SignatureError, match=needle):
        signer.parse_authorization(value)


def test_parse_authorization_reads_the_three_fields():
    parsed = signer.parse_authorization(
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=content-type;host;x-sdk-date, Signature=abc")
    assert parsed == signer.ParsedAuthorization("AK1", ["content-type", "host", "x-sdk-date"], "abc")


# --- SdkHmacSha256Auth on real prepared requests, checked by a server-side verify() ---

def prepared(method="POST", url=None, **kwargs) -> requests.PreparedRequest:
    url = url or f"https://{HOST}/v2/manage/namespaces/org/repos/a%24b"
    kwargs.setdefault("headers", {"Content-Type": "application/json;charset=utf-8"})
    auth = signer.SdkHmacSha256Auth(AK, SK, project_id="0123456789abcdef")
    return requests.Request(method, url, auth=auth, **kwargs).prepare()


def server_verify(req: requests.PreparedRequest, sk: str = SK) -> bool:
    """What a gateway does with the request as it arrives."""
    parts = urlsplit(req.url)
    headers = {k.lower(): v for k, v in req.headers.items()}
    parsed = signer.parse_authorization(headers["authorization"])
    body = req.body.encode() if isinstance(req.body, str) else (req.body or b"")
    query = parse_qsl(parts.query, keep_blank_values=True)
    return parsed.access == AK and signer.verify(sk, parsed, req.method, parts.path, query, headers, body)


def test_auth_output_verifies_server_side():
    req = prepared(json={"namespace": "org", "名": "ü"}, params=[("x", "1 2"), ("b", "é"), ("x", "0")])
    assert server_verify(req)
    signed = signer.parse_authorization(req.headers["Authorization"]).signed_headers
    assert {"content-type", "host", "x-project-id", "x-sdk-date"} <= set(signed)
    assert "user-agent" not in signed and "content-length" not in signed
    assert req.headers["Host"] == HOST


def test_auth_sends_the_canonical_query():
    req = prepared("GET", params=[("x", "1 2"), ("b", "é"), ("x", "0")])
    assert urlsplit(req.url).query == "b=%C3%A9&x=0&x=1%202"
    assert server_verify(req)


def test_auth_signs_a_get_without_body():
    req = prepared("GET", headers={})
    assert server_verify(req)
    assert signer.parse_authorization(req.headers["Authorization"]).signed_headers == [
        "host", "x-project-id", "x-sdk-date"]


def test_wrong_sk_fails():
    assert not server_verify(prepared(json={"namespace": "org"}), sk=SK + "x")


def tamper_body(req):
    req.body = b'{"namespace": "evil"}'


def tamper_signed_header(req):
    req.headers["X-Project-Id"] = "fedcba9876543210"


def tamper_path(req):
    parts = urlsplit(req.url)
    req.url = urlunsplit(parts._replace(path="/v2/manage/namespaces/other"))


def tamper_query(req):
    req.url += "&extra=1"


def tamper_signature(req):
    value = req.headers["Authorization"]
    req.headers["Authorization"] = value[:-1] + ("0" if value[-1] != "0" else "1")


def tamper_date(req):
    req.headers["X-Sdk-Date"] = "20000101T000000Z"


def drop_signed_header(req):
    del req.headers["X-Project-Id"]


@pytest.mark.parametrize("tamper", [tamper_body, tamper_signed_header, tamper_path, tamper_query,
                                    tamper_signature, tamper_date, drop_signed_header])
def test_tampering_breaks_verification(tamper):
    req = prepared(json={"namespace": "org"}, params={"q": "1"})
    assert server_verify(req)
    tamper(req)
    assert not server_verify(req)


def test_unsigned_headers_may_change_in_transit():
    req = prepared(json={"namespace": "org"})
    req.headers["User-Agent"] = "something-else/1.0"
    req.headers["Content-Length"] = "999"
    assert server_verify(req)


def test_auth_refuses_a_streamed_body():
    auth = signer.SdkHmacSha256Auth(AK, SK)
    with pytest.raises(TypeError, match="streamed"):
        requests.Request("PUT", f"https://{HOST}/x", data=iter([b"a", b"b"]), auth=auth).prepare()


def test_auth_repr_hides_the_sk():
    auth = signer.SdkHmacSha256Auth(AK, SK, project_id="p")
    assert SK not in repr(auth) and AK in repr(auth)
    assert SK not in str(vars(auth).get("sk", ""))
