"""SwrApi and DockyardClient against a real local HTTP server running a strict fake of SWR."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from adapter.swr import api as swr_api
from adapter.swr.api import (
    JSON_TYPE,
    DockyardClient,
    SwrApi,
    SwrAuthError,
    SwrConflict,
    SwrError,
    SwrHTTPError,
    SwrNameInvalid,
    SwrNotFound,
    SwrQuotaExceeded,
    SwrServerError,
    SwrThrottled,
    SwrUnreachable,
)
from adapter.swr.credentials import login_key
from adapter.swr.signer import DATE_FORMAT, SignatureError, parse_authorization, verify

AK = "AKFAKESWR0123456789A"
SK = "fake-secret-key-0123456789abcdefghijklmn"
PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ACCESS_ID = f"eu-de@{AK}"
LOGIN_KEY = login_key(AK, SK)
QUOTA = 5


class State:
    """What the fake SWR knows; a fresh one per test."""

    def __init__(self):
        self.orgs = {"existing": {"id": 1, "name": "existing", "creator_name": "me", "auth": 7}}
        self.foreign = {"taken"}  # held by another tenant: invisible to us, but its name is used
        self.repos = [{"name": f"app{i:03d}", "namespace": "existing"} for i in range(250)]
        self.repo = {("existing", "a$b"): {"name": "a/b", "namespace": "existing", "num_images": 2}}
        self.script: dict[tuple[str, str], list] = {}  # (method, path) -> responses served first
        self.calls: list[dict] = []


def swr_error(status, code, message, detail=""):
    body = [{"errorCode": code, "errorMessage": message, "detail": detail}]
    return Response(json.dumps(body), status=status, content_type="application/json")


def apigw_error(status, code, message):
    body = {"error_code": code, "error_msg": message, "request_id": "req-apigw-1"}
    return Response(json.dumps(body), status=status, content_type="application/json")


def check_signature(raw_uri):
    """The gateway's side of SDK-HMAC-SHA256: anything off is a 401 in APIGW's shape."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        parsed = parse_authorization(headers.get("authorization", ""))
    except SignatureError as exc:
        return apigw_error(401, "APIGW.0301", f"Incorrect IAM authentication information: {exc}")
    if parsed.access != AK or "x-project-id" not in parsed.signed_headers:
        return apigw_error(401, "APIGW.0301", "Incorrect IAM authentication information: unknown AK or scope")
    signed_at = datetime.strptime(headers["x-sdk-date"], DATE_FORMAT).replace(tzinfo=timezone.utc)
    if abs(datetime.now(timezone.utc) - signed_at) > timedelta(minutes=15):
        return apigw_error(401, "APIGW.0301", "Incorrect IAM authentication information: date skew")
    parts = urlsplit(raw_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not verify(SK, parsed, request.method, parts.path, query, headers, request.get_data()):
        return apigw_error(401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail")
    return None


def check_basic():
    expected = "Basic " + base64.b64encode(f"{ACCESS_ID}:{LOGIN_KEY}".encode()).decode()
    if request.headers.get("Authorization") != expected:
        body = {"errors": [{"errorCode": "SVCSTG.SWR.4010000", "errorMessage": "Authenticate Error"}]}
        return Response(json.dumps(body), status=401, content_type="application/json")
    return None


def scripted(entry):
    if entry[0] == "sleep":
        time.sleep(entry[1])
        return Response("late", status=200)
    status, body, headers = entry
    text = body if isinstance(body, str) else json.dumps(body)
    return Response(text, status=status, headers=headers)


def build_app() -> Flask:
    app = Flask(__name__)

    def state() -> State:
        return app.config["STATE"]

    @app.before_request
    def gate():
        raw = request.environ.get("RAW_URI") or request.environ["REQUEST_URI"]
        state().calls.append({"method": request.method, "raw": raw, "headers": dict(request.headers),
                              "body": request.get_data()})
        if request.headers.get("Content-Type") != JSON_TYPE:
            return swr_error(400, "SVCSTG.SWR.4000001", "Content-Type must be JSON")
        denied = check_signature(raw) if request.path.startswith("/v2/manage") else check_basic()
        if denied is not None:
            return denied
        queue = state().script.get((request.method, request.path))
        return scripted(queue.pop(0)) if queue else None

    @app.get("/v2/manage/namespaces")
    def list_namespaces():
        return jsonify({"namespaces": list(state().orgs.values())})

    @app.get("/v2/manage/namespaces/<name>")
    def get_namespace(name):
        org = state().orgs.get(name)
        return jsonify(org) if org else swr_error(404, "SVCSTG.SWR.4040058", "Namespace not found", name)

    @app.post("/v2/manage/namespaces")
    @app.post("/dockyard/v2/namespaces")
    def create_namespace():
        name = (request.get_json(silent=True) or {}).get("namespace")
        if not isinstance(name, str) or not name or name != name.lower():
            return swr_error(400, "SVCSTG.SWR.4001028", "Invalid organization name", str(name))
        if name in state().orgs or name in state().foreign:
            return swr_error(409, "SVCSTG.SWR.4090060", "Namespace already exists", name)
        if len(state().orgs) >= QUOTA:
            return swr_error(400, "SVCSTG.SWR.4000097", "The maximum number of organizations has been reached")
        state().orgs[name] = {"id": len(state().orgs) + 1, "name": name, "creator_name": "me", "auth": 7}
        return Response(status=201)

    @app.get("/v2/manage/namespaces/<ns>/repos/<repo>")
    def get_repo(ns, repo):
        found = state().repo.get((ns, repo))
        return jsonify(found) if found else swr_error(404, "SVCSTG.SWR.4040034", "Repository not found")

    @app.get("/v2/manage/repos")
    def list_repos():
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        repos = [r for r in state().repos if request.args.get("namespace") in (None, r["namespace"])]
        page = repos[offset:offset + limit]
        resp = jsonify(page)
        resp.headers["Content-Range"] = f"{offset}-{len(page)}/{len(repos)}"
        return resp

    @app.get("/dockyard/v2/namespaces/<name>")
    def dockyard_namespace(name):
        return jsonify(state().orgs.get(name) or {})  # Harbor's fixture: 200 {} for a missing namespace

    return app


@pytest.fixture(scope="module")
def server():
    app = build_app()
    app.config["STATE"] = State()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.fixture
def fake(server):
    app, _ = server
    app.config["STATE"] = State()
    return app.config["STATE"]


@pytest.fixture
def base(server):
    return server[1]


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(base, sleeps, fake):
    return SwrApi(base, AK, SK, project_id=PROJECT_ID, sleep=sleeps.append)


@pytest.fixture
def dockyard(base, sleeps, fake):
    return DockyardClient(base, ACCESS_ID, LOGIN_KEY, sleep=sleeps.append)


# --- signed management API ---

def test_requests_are_signed_and_verified(client, fake):
    assert client.get_organization("existing")["name"] == "existing"
    call = fake.calls[-1]
    assert call["headers"]["Authorization"].startswith("SDK-HMAC-SHA256 Access=" + AK)
    assert call["headers"]["X-Project-Id"] == PROJECT_ID
    assert call["headers"]["Content-Type"] == "application/json;charset=utf-8"


def test_a_wrong_sk_is_an_auth_error_with_apigw_code(base, fake):
    api = SwrApi(base, AK, SK + "-wrong", project_id=PROJECT_ID, sleep=lambda s: None)
    with pytest.raises(SwrAuthError) as info:
        api.list_organizations()
    err = info.value
    assert (err.status, err.code, err.request_id) == (401, "APIGW.0301", "req-apigw-1")
    assert "signature fail" in err.message
    assert SK not in str(err)


def test_get_organization_missing_is_none(client):
    assert client.get_organization("nope") is None


def test_list_organizations(client):
    assert [o["name"] for o in client.list_organizations()] == ["existing"]


def test_create_organization_created_then_conflict(client, fake):
    assert client.create_organization("fresh") is True
    assert "fresh" in fake.orgs
    assert json.loads(fake.calls[-1]["body"]) == {"namespace": "fresh"}
    assert client.create_organization("fresh") is False


def test_create_organization_quota_and_bad_name(client, fake):
    with pytest.raises(SwrNameInvalid) as info:
        client.create_organization("Bad")
    assert info.value.code == "SVCSTG.SWR.4001028" and info.value.message == "Invalid organization name: Bad"
    fake.orgs.update({f"o{i}": {"name": f"o{i}"} for i in range(QUOTA)})
    with pytest.raises(SwrQuotaExceeded) as info:
        client.create_organization("onemore")
    assert info.value.status == 400 and info.value.code == "SVCSTG.SWR.4000097"


def test_ensure_organization_existing_does_not_post(client, fake):
    assert client.ensure_organization("existing") is False
    assert [c["method"] for c in fake.calls] == ["GET"]


def test_ensure_organization_creates(client, fake):
    assert client.ensure_organization("fresh") is True
    assert [c["method"] for c in fake.calls] == ["GET", "POST"]


def test_ensure_organization_taken_by_another_tenant(client):
    with pytest.raises(SwrConflict, match="not visible to these credentials"):
        client.ensure_organization("taken")


def test_ensure_organization_lost_race_is_not_created(client, fake):
    org = {"id": 9, "name": "racy"}
    fake.script[("GET", "/v2/manage/namespaces/racy")] = [
        (404, [{"errorCode": "SVCSTG.SWR.4040058", "errorMessage": "Namespace not found"}], {}), (200, org, {})]
    fake.script[("POST", "/v2/manage/namespaces")] = [
        (409, [{"errorCode": "SVCSTG.SWR.4090060", "errorMessage": "exists"}], {})]
    assert client.ensure_organization("racy") is False


def test_get_repository_encodes_slashes_as_dollar(client, fake):
    assert client.get_repository("existing", "a/b")["num_images"] == 2
    assert fake.calls[-1]["raw"] == "/v2/manage/namespaces/existing/repos/a%24b"
    assert client.get_repository("existing", "a/c") is None


def test_list_repositories_follows_pages(client, fake):
    repos = client.list_repositories()
    assert len(repos) == 250 and repos[-1]["name"] == "app249"
    assert [dict(parse_qsl(urlsplit(c["raw"]).query))["offset"] for c in fake.calls] == ["0", "100", "200"]
    fake.calls.clear()
    assert client.list_repositories(namespace="other") == []
    assert "namespace=other" in fake.calls[0]["raw"]


# --- retries ---

def script_503(fake, method, path, times):
    fake.script[(method, path)] = [(503, "Service Unavailable", {})] * times


def test_get_503_is_retried_with_backoff(client, fake, sleeps):
    script_503(fake, "GET", "/v2/manage/namespaces", 2)
    assert client.list_organizations()[0]["name"] == "existing"
    assert len(fake.calls) == 3 and sleeps == [0.5, 1.0]


def test_get_retries_are_bounded(client, fake, sleeps):
    script_503(fake, "GET", "/v2/manage/namespaces", 10)
    with pytest.raises(SwrServerError) as info:
        client.list_organizations()
    assert info.value.status == 503 and info.value.message == "Service Unavailable"
    assert len(fake.calls) == 4 and sleeps == [0.5, 1.0, 2.0]


def test_post_503_is_not_retried(client, fake, sleeps):
    script_503(fake, "POST", "/v2/manage/namespaces", 1)
    with pytest.raises(SwrServerError):
        client.create_organization("fresh")
    assert len(fake.calls) == 1 and sleeps == []
    assert "fresh" not in fake.orgs


@pytest.mark.parametrize("header, expected", [("7", 7.0), ("0.25", 0.25), ("3600", 60.0), ("soon", 0.5)])
def test_retry_after_is_honoured(client, fake, sleeps, header, expected):
    fake.script[("GET", "/v2/manage/namespaces")] = [(429, {"error_code": "APIGW.0308", "error_msg": "throttled"},
                                                      {"Retry-After": header})]
    client.list_organizations()
    assert sleeps == [expected]


def test_retry_after_http_date(client, fake, sleeps):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    fake.script[("GET", "/v2/manage/namespaces")] = [(503, "busy", {"Retry-After": when})]
    client.list_organizations()
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_swr_403_throttling_codes_are_retried(client, fake, sleeps):
    body = [{"errorCode": "SVCSTG.SWR.4031042", "errorMessage": "too many requests"}]
    fake.script[("GET", "/v2/manage/namespaces")] = [(403, body, {})]
    client.list_organizations()
    assert sleeps == [0.5]


def test_throttled_post_is_not_retried(client, fake, sleeps):
    fake.script[("POST", "/v2/manage/namespaces")] = [(429, "slow down", {"Retry-After": "1"})]
    with pytest.raises(SwrThrottled):
        client.create_organization("fresh")
    assert sleeps == []


def test_retry_logs_never_carry_secrets(client, fake, caplog):
    script_503(fake, "GET", "/v2/manage/namespaces", 1)
    with caplog.at_level("WARNING", logger="adapter.swr.api"):
        client.list_organizations()
    assert "retry 1/3" in caplog.text
    assert SK not in caplog.text and "Signature=" not in caplog.text


# --- error shapes (swr.md §2.2) ---

ERROR_SHAPES = [
    (401, [{"errorCode": "SVCSTG.SWR.4001048", "errorMessage": "Failed to get Token from Context", "detail": ""}],
     {}, SwrAuthError, "SVCSTG.SWR.4001048", "Failed to get Token from Context", None),
    (401, {"errors": [{"errorCode": "SVCSTG.SWR.4010000", "errorMessage": "Authenticate Error"}]},
     {}, SwrAuthError, "SVCSTG.SWR.4010000", "Authenticate Error", None),
    (403, {"errors": [{"code": "DENIED", "message": "Authenticate Error"}]},
     {}, SwrAuthError, "DENIED", "Authenticate Error", None),
    (404, {"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published in the "
           "environment", "request_id": "r-42"}, {}, SwrNotFound, "APIGW.0101",
     "The API does not exist or has not been published in the environment", "r-42"),
    (400, {"error": {"code": "SVCSTG.SWR.4000097", "message": "max organizations"}}, {},
     SwrQuotaExceeded, "SVCSTG.SWR.4000097", "max organizations", None),
    (400, {"outer": {"inner": {"errorCode": "SVCSTG.SWR.4009021", "errorMsg": "Invalid image tag"}}}, {},
     SwrNameInvalid, "SVCSTG.SWR.4009021", "Invalid image tag", None),
    (400, [{"errorCode": "SVCSTG.SWR.4001029", "errorMessage": "Invalid image name", "detail": "A/b"}], {},
     SwrNameInvalid, "SVCSTG.SWR.4001029", "Invalid image name: A/b", None),
    (409, [{"errorCode": "SVCSTG.SWR.4090023", "errorMessage": "system is busy"}], {"X-Request-Id": "hdr-1"},
     SwrConflict, "SVCSTG.SWR.4090023", "system is busy", "hdr-1"),
    (406, [{"errorCode": "SVCSTG.SWR.4060074", "errorMessage": "Namespace still holds images"}], {},
     SwrHTTPError, "SVCSTG.SWR.4060074", "Namespace still holds images", None),
    (403, [{"errorCode": "SVCSTG.SWR.4031032", "errorMessage": "requests exceed the maximum"}], {},
     SwrThrottled, "SVCSTG.SWR.4031032", "requests exceed the maximum", None),
    (429, "Too Many Requests", {}, SwrThrottled, None, "Too Many Requests", None),
    (502, "<html><body>Bad Gateway</body></html>", {}, SwrServerError, None,
     "<html><body>Bad Gateway</body></html>", None),
    (500, "", {}, SwrServerError, None, "INTERNAL SERVER ERROR", None),
    (400, {"unrelated": [1, 2, {"x": None}]}, {}, SwrHTTPError, None, '{"unrelated": [1, 2, {"x": null}]}', None),
]


@pytest.mark.parametrize("status, body, headers, cls, code, message, request_id", ERROR_SHAPES)
def test_error_shapes_map_to_exceptions(base, fake, status, body, headers, cls, code, message, request_id):
    api = SwrApi(base, AK, SK, project_id=PROJECT_ID, retries=0)
    fake.script[("GET", "/v2/manage/namespaces")] = [(status, body, headers)]
    with pytest.raises(SwrHTTPError) as info:
        api.list_organizations()
    err = info.value
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.request_id) == (status, code, message, request_id)
    assert isinstance(err, SwrError) and str(status) in str(err)


def test_non_json_success_body_is_an_error(client, fake):
    fake.script[("GET", "/v2/manage/namespaces/existing")] = [(200, "<html>login</html>", {})]
    with pytest.raises(SwrHTTPError, match="expected JSON"):
        client.get_organization("existing")


# --- unreachable ---

def test_read_timeout_is_unreachable_timeout_and_not_retried(base, fake, sleeps):
    api = SwrApi(base, AK, SK, project_id=PROJECT_ID, timeout=(2, 0.2), sleep=sleeps.append)
    fake.script[("GET", "/v2/manage/namespaces")] = [("sleep", 1.0)]
    with pytest.raises(SwrUnreachable) as info:
        api.list_organizations()
    assert info.value.kind == "timeout" and sleeps == []


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connection_refused_is_unreachable_connect_and_retried_for_get(sleeps):
    api = SwrApi(closed_port_url(), AK, SK, sleep=sleeps.append)
    with pytest.raises(SwrUnreachable) as info:
        api.list_organizations()
    assert info.value.kind == "connect" and sleeps == [0.5, 1.0, 2.0]


def test_connection_refused_post_is_not_retried(sleeps):
    api = SwrApi(closed_port_url(), AK, SK, sleep=sleeps.append)
    with pytest.raises(SwrUnreachable) as info:
        api.create_organization("x")
    assert info.value.kind == "connect" and sleeps == []


def test_every_request_carries_a_timeout(client, fake, monkeypatch):
    seen = []
    original = client.session.request

    def spy(method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", spy)
    client.list_organizations()
    client.create_organization("fresh")
    client.get_repository("existing", "a/b")
    assert seen == [swr_api.DEFAULT_TIMEOUT] * 3


def test_repr_never_shows_secrets(client, dockyard):
    for text in (repr(client), repr(dockyard), repr(vars(client)), repr(vars(dockyard))):
        assert SK not in text and LOGIN_KEY not in text


# --- dockyard fallback (Basic auth with the login key) ---

def test_dockyard_get_namespace(dockyard, fake):
    assert dockyard.get_namespace("existing")["id"] == 1
    assert dockyard.get_namespace("missing") is None  # 200 {} as Harbor's adapter sees it
    call = fake.calls[-1]
    assert call["raw"] == "/dockyard/v2/namespaces/missing"
    assert call["headers"]["Content-Type"] == JSON_TYPE


def test_dockyard_404_is_missing_too(dockyard, fake):
    fake.script[("GET", "/dockyard/v2/namespaces/gone")] = [(404, "not found", {})]
    assert dockyard.get_namespace("gone") is None


def test_dockyard_create_and_conflict(dockyard, fake):
    assert dockyard.create_namespace("fresh") is True
    assert json.loads(fake.calls[-1]["body"]) == {"namespace": "fresh"}
    assert dockyard.create_namespace("fresh") is False


def test_dockyard_ensure_organization_same_contract(dockyard, fake):
    assert dockyard.ensure_organization("existing") is False
    assert dockyard.ensure_organization("fresh") is True
    with pytest.raises(SwrConflict):
        dockyard.ensure_organization("taken")


def test_dockyard_derives_the_login_key_from_an_sk(base, fake):
    client = DockyardClient(base, ACCESS_ID, SK)
    assert client.ensure_organization("fresh") is True


def test_dockyard_wrong_key_is_an_auth_error(base, fake):
    client = DockyardClient(base, ACCESS_ID, "0" * 64)
    with pytest.raises(SwrAuthError) as info:
        client.get_namespace("existing")
    assert (info.value.code, info.value.message) == ("SVCSTG.SWR.4010000", "Authenticate Error")
    assert "0" * 64 not in str(info.value)


def test_dockyard_post_503_is_not_retried(dockyard, fake, sleeps):
    script_503(fake, "POST", "/dockyard/v2/namespaces", 1)
    with pytest.raises(SwrServerError):
        dockyard.create_namespace("fresh")
    assert sleeps == []
