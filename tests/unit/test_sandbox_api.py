"""The sandbox's Flask app through its test client: auth, validation and error shapes (no processes)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography import x509

from adapter.sandbox.api import SandboxContext, create_app
from adapter.sandbox.catalog import CatalogError, Repository
from adapter.sandbox.state import SandboxState, Tenant, parse_tenants
from adapter.sandbox.tokens import TokenIssuer, libtrust_key_id, parse_scope
from adapter.swr.credentials import CredentialError
from adapter.swr.signer import DATE_FORMAT, sign

ALICE = Tenant("eu-de", "UNITTESTALICE0000001", "unit-test-secret-alice-0123456789")
BOB = Tenant("eu-nl", "UNITTESTBOB000000002", "unit-test-secret-bob-0123456789ab")
AUTH_ERROR = {"errors": [{"errorCode": "SVCSTG.SWR.4010000", "errorMessage": "Authenticate Error"}]}
REALM = "/swr/auth/v2/registry/auth"


class StubCatalog:
    """Stands in for docker-registry: fixed repositories, or a failure."""

    def __init__(self):
        self.repos: list[Repository] = []
        self.fail = False

    def repositories(self, namespaces, *, with_sizes=True):
        if self.fail:
            raise CatalogError("registry unreachable: ConnectionError")
        return [r for r in self.repos if r.namespace in set(namespaces)]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    return TokenIssuer.in_directory(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def box(tmp_path, issuer):
    state = SandboxState(tmp_path / "state.json", [ALICE, BOB], org_quota=3)
    catalog = StubCatalog()
    app = create_app(SandboxContext(state, issuer, catalog, "127.0.0.1:5000"))
    return app.test_client(), state, catalog


def basic(user, password) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def login(tenant: Tenant) -> dict:
    return basic(tenant.access_id, tenant.login_key)


def signed(client, tenant, method, path, body=None, *, date=None, sk=None, tamper=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if date is not None:
        headers["X-Sdk-Date"] = date.strftime(DATE_FORMAT)
    headers = sign(tenant.ak, sk or tenant.sk, method, "http://localhost" + path, headers, data)
    if tamper:
        headers = tamper(headers)
    return client.open(path, method=method, headers=headers, data=data)


def claims(resp, issuer) -> dict:
    cert = x509.load_pem_x509_certificate(issuer.cert_path.read_bytes())
    token = resp.get_json()["token"]
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid
    return jwt.decode(token, cert.public_key(), algorithms=["RS256"], audience="dockyard", issuer="swr-sandbox")


# --- token service ---------------------------------------------------------------------------------

def test_anonymous_token_grants_nothing(box, issuer):
    client, state, _ = box
    state.create(ALICE, "team")
    resp = client.get(REALM + "?service=dockyard&scope=repository:team/app:pull")
    body = resp.get_json()
    assert resp.status_code == 200 and body["expires_in"] == 900 and body["access_token"] == body["token"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert claims(resp, issuer)["access"] == []


def test_owner_gets_push_pull_in_harbor_form(box, issuer):
    client, state, _ = box
    state.create(ALICE, "team")
    # Harbor: unencoded scope, push,pull order, no service parameter, trailing slash variant too.
    for path in (REALM, REALM + "/"):
        resp = client.get(path + "?scope=repository:team/app/sub:push,pull", headers=login(ALICE))
        got = claims(resp, issuer)
        assert got["access"] == [{"type": "repository", "name": "team/app/sub", "actions": ["pull", "push"]}]
        assert got["sub"] == ALICE.access_id and got["exp"] - got["iat"] == 900 and got["jti"]


def test_only_owned_existing_organizations_are_granted(box, issuer):
    client, state, _ = box
    state.create(ALICE, "team")
    state.create(BOB, "bobs")
    query = "&".join(f"scope={s}" for s in ("repository:team/a:pull", "repository:bobs/b:push,pull",
                                            "repository:team/Bad:pull", "repository:team:pull"))
    resp = client.get(f"{REALM}?service=dockyard&{query}", headers=login(ALICE))
    assert claims(resp, issuer)["access"] == [{"type": "repository", "name": "team/a", "actions": ["pull"]}]
    # An organization that does not exist refuses the whole request, as SWR words it (swr.md §6.1).
    missing = client.get(f"{REALM}?service=dockyard&{query}&scope=repository:missing/c:pull", headers=login(ALICE))
    assert missing.status_code == 401 and missing.get_json()["errors"][0] == {
        "code": "DENIED", "message": "Image organization does not exist", "detail": "missing"}


def test_catalog_scope_for_tenants_only(box, issuer):
    client, _, _ = box
    granted = claims(client.get(REALM + "?scope=registry:catalog:*", headers=login(ALICE)), issuer)
    assert granted["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    assert claims(client.get(REALM + "?scope=registry:catalog:*"), issuer)["access"] == []


@pytest.mark.parametrize("headers", [
    basic(ALICE.access_id, ALICE.sk),                    # the SK itself is not a registry password
    basic(ALICE.access_id, BOB.login_key),               # another tenant's key
    basic("eu-de@UNKNOWNAK0000000001", ALICE.login_key),  # unknown user
    basic(f"eu-nl@{ALICE.ak}", ALICE.login_key),          # right AK, wrong project
])
def test_bad_credentials_are_401_authenticate_error(box, headers):
    resp = box[0].get(REALM + "?scope=repository:team/a:pull", headers=headers)
    assert resp.status_code == 401 and resp.get_json() == AUTH_ERROR


@pytest.mark.parametrize("value", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
                                   "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Bearer abc", "Basic"])
def test_malformed_authorization_is_401_in_swr_shape(box, value):
    resp = box[0].get(REALM, headers={"Authorization": value})
    err = resp.get_json()["errors"][0]
    assert resp.status_code == 401 and err["errorCode"] == "SVCSTG.SWR.4010000" and err["detail"]


@pytest.mark.parametrize("query", ["scope=repository:team", "scope=repository::pull", "scope=repository:team/a:",
                                   "scope=nocolon", "service=other"])
def test_bad_scope_or_service_is_400(box, query):
    resp = box[0].get(f"{REALM}?{query}", headers=login(ALICE))
    body = resp.get_json()
    assert resp.status_code == 400 and body[0]["errorCode"] == "SVCSTG.SWR.4000001" and body[0]["detail"]


def test_scope_parsing_keeps_colons_in_names():
    scope = parse_scope("repository:localhost:5000/team/app:push,pull")
    assert (scope.type, scope.name, scope.actions) == ("repository", "localhost:5000/team/app", ("push", "pull"))


def test_kid_is_libtrust_shaped(issuer):
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", issuer.kid)
    cert = x509.load_pem_x509_certificate(issuer.cert_path.read_bytes())
    assert libtrust_key_id(cert.public_key()) == issuer.kid


# --- management API: signatures --------------------------------------------------------------------

def _apigw(resp) -> str:
    body = resp.get_json()
    assert resp.status_code == 401 and body["error_code"] == "APIGW.0301" and body["request_id"]
    assert body["error_msg"].startswith("Incorrect IAM authentication information: ")
    return body["error_msg"]


def test_unsigned_request_is_refused(box):
    # swr.md §2.1/§2.2: SWR's own answer when neither a user token nor an AK/SK signature comes.
    resp = box[0].get("/v2/manage/namespaces")
    assert resp.status_code == 401 and resp.get_json() == [{
        "errorCode": "SVCSTG.S2I.4019000",
        "errorMessage": "Authentication error: No user token or user AK/SK information found", "detail": ""}]
    # An IAM token the sandbox cannot check is refused at the gateway, as a bad signature is.
    assert "Authorization" in _apigw(box[0].get("/v2/manage/namespaces", headers={"X-Auth-Token": "x"}))


def test_garbled_authorization_is_refused(box):
    resp = box[0].get("/v2/manage/namespaces", headers={"Authorization": "SDK-HMAC-SHA256 garbage"})
    assert "malformed" in _apigw(resp)


def test_tampered_signature_is_refused(box):
    def flip(headers):
        auth = headers["Authorization"]
        return dict(headers, Authorization=auth[:-1] + ("0" if auth[-1] != "0" else "1"))

    assert "signature" in _apigw(signed(box[0], ALICE, "GET", "/v2/manage/namespaces", tamper=flip))


def test_wrong_sk_and_unknown_ak_are_refused(box):
    assert "signature" in _apigw(signed(box[0], ALICE, "GET", "/v2/manage/namespaces", sk=BOB.sk))
    stranger = Tenant("eu-de", "UNKNOWNAK0000000001", "whatever-secret-0123456789")
    assert "access key" in _apigw(signed(box[0], stranger, "GET", "/v2/manage/namespaces"))


def test_body_changed_after_signing_is_refused(box):
    client = box[0]
    headers = sign(ALICE.ak, ALICE.sk, "POST", "http://localhost/v2/manage/namespaces",
                   {"Content-Type": "application/json"}, b'{"namespace":"one"}')
    resp = client.post("/v2/manage/namespaces", headers=headers, data=b'{"namespace":"two"}')
    assert "signature" in _apigw(resp)
    assert box[1].organization("two") is None


@pytest.mark.parametrize("skew", [timedelta(minutes=16), -timedelta(minutes=16)])
def test_stale_or_future_date_is_refused(box, skew):
    resp = signed(box[0], ALICE, "GET", "/v2/manage/namespaces", date=datetime.now(timezone.utc) - skew)
    assert "15 minutes" in _apigw(resp)


def test_date_within_tolerance_is_accepted(box):
    resp = signed(box[0], ALICE, "GET", "/v2/manage/namespaces",
                  date=datetime.now(timezone.utc) - timedelta(minutes=10))
    assert resp.status_code == 200


# --- management API: organizations -----------------------------------------------------------------

def _swr_error(resp, status, code) -> dict:
    body = resp.get_json()
    assert resp.status_code == status and isinstance(body, list) and body[0]["errorCode"] == code, body
    return body[0]


def test_create_get_list_delete(box):
    client, state, _ = box
    resp = signed(client, ALICE, "POST", "/v2/manage/namespaces", {"namespace": "team"})
    assert resp.status_code == 201 and resp.data == b""
    got = signed(client, ALICE, "GET", "/v2/manage/namespaces/team").get_json()
    assert got == {"id": 1, "name": "team", "creator_name": "eu-de", "auth": 7}
    listed = signed(client, ALICE, "GET", "/v2/manage/namespaces?namespace=team").get_json()
    assert [n["name"] for n in listed["namespaces"]] == ["team"]
    assert signed(client, ALICE, "GET", "/v2/manage/namespaces?filter=namespace::nope").get_json() == \
        {"namespaces": []}
    assert signed(client, ALICE, "DELETE", "/v2/manage/namespaces/team").status_code == 204
    assert state.organization("team") is None


def test_names_are_global_and_private(box):
    client, _, _ = box
    signed(client, ALICE, "POST", "/v2/manage/namespaces", {"namespace": "shared"})
    _swr_error(signed(client, ALICE, "POST", "/v2/manage/namespaces", {"namespace": "shared"}),
               409, "SVCSTG.SWR.4090060")
    _swr_error(signed(client, BOB, "POST", "/v2/manage/namespaces", {"namespace": "shared"}),
               409, "SVCSTG.SWR.4090060")
    _swr_error(signed(client, BOB, "GET", "/v2/manage/namespaces/shared"), 404, "SVCSTG.SWR.4040058")
    _swr_error(signed(client, BOB, "DELETE", "/v2/manage/namespaces/shared"), 404, "SVCSTG.SWR.4040058")
    assert signed(client, BOB, "GET", "/v2/manage/namespaces").get_json() == {"namespaces": []}


@pytest.mark.parametrize("name", ["library", "Upper", "9start", "a-", "a..b", "a___b", "x" * 65, ""])
def test_invalid_organization_names(box, name):
    err = _swr_error(signed(box[0], ALICE, "POST", "/v2/manage/namespaces", {"namespace": name}),
                     400, "SVCSTG.SWR.4001028")
    assert err["detail"]
    assert box[1].organizations_of(ALICE) == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"name": "x"}', b"", b'{"namespace": 42}',
                                 b'{"namespace": null}'])
def test_bad_bodies_are_400(box, raw):
    headers = sign(ALICE.ak, ALICE.sk, "POST", "http://localhost/v2/manage/namespaces",
                   {"Content-Type": "application/json"}, raw)
    resp = box[0].post("/v2/manage/namespaces", headers=headers, data=raw)
    _swr_error(resp, 400, "SVCSTG.SWR.4000001")


def test_quota_is_per_tenant(box):
    client = box[0]
    for i in range(3):
        assert signed(client, ALICE, "POST", "/v2/manage/namespaces", {"namespace": f"q{i}"}).status_code == 201
    _swr_error(signed(client, ALICE, "POST", "/v2/manage/namespaces", {"namespace": "q3"}),
               400, "SVCSTG.SWR.4000097")
    assert signed(client, BOB, "POST", "/v2/manage/namespaces", {"namespace": "q3"}).status_code == 201


def test_delete_refuses_organization_with_images(box):
    client, state, catalog = box
    state.create(ALICE, "full")
    catalog.repos = [Repository("full", "app", ["v1"])]
    _swr_error(signed(client, ALICE, "DELETE", "/v2/manage/namespaces/full"), 406, "SVCSTG.SWR.4060074")
    catalog.repos = [Repository("full", "app", [])]
    assert signed(client, ALICE, "DELETE", "/v2/manage/namespaces/full").status_code == 204


def test_state_survives_a_restart(box, tmp_path):
    signed(box[0], ALICE, "POST", "/v2/manage/namespaces", {"namespace": "kept"})
    again = SandboxState(tmp_path / "state.json", [ALICE, BOB])
    assert again.owned(ALICE, "kept").id == 1 and again.owned(BOB, "kept") is None


# --- management API: repositories ------------------------------------------------------------------

def test_repo_list_and_get(box):
    client, state, catalog = box
    state.create(ALICE, "team")
    state.create(BOB, "bobs")
    catalog.repos = [Repository("team", "app", ["v1", "v2"], 100), Repository("team", "a/b", ["x"], 5),
                     Repository("bobs", "secret", ["s"])]
    resp = signed(client, ALICE, "GET", "/v2/manage/repos?order_column=name&order_type=asc&limit=1&offset=1")
    assert resp.status_code == 200 and resp.headers["Content-Range"] == "1-1/2"
    [entry] = resp.get_json()
    assert entry["name"] == "app" and entry["namespace"] == "team" and entry["num_images"] == 2
    assert entry["tags"] == ["v1", "v2"] and entry["path"] == "127.0.0.1:5000/team/app"
    detail = signed(client, ALICE, "GET", "/v2/manage/namespaces/team/repos/a%24b").get_json()
    assert detail["name"] == "a/b" and detail["num_images"] == 1 and detail["ns_id"] == 1
    _swr_error(signed(client, ALICE, "GET", "/v2/manage/namespaces/team/repos/nope"), 404, "SVCSTG.SWR.4040000")
    _swr_error(signed(client, ALICE, "GET", "/v2/manage/namespaces/team/repos/a%24%24b"), 400, "SVCSTG.SWR.4001029")
    _swr_error(signed(client, ALICE, "GET", "/v2/manage/namespaces/bobs/repos/secret"), 404, "SVCSTG.SWR.4040058")


@pytest.mark.parametrize("query", ["limit=5000", "limit=abc", "offset=-1", "category=nope", "filter=broken",
                                   "order_type=sideways"])
def test_bad_repo_queries_are_400(box, query):
    _swr_error(signed(box[0], ALICE, "GET", f"/v2/manage/repos?{query}"), 400, "SVCSTG.SWR.4000001")


def test_registry_down_is_502_not_500(box):
    client, state, catalog = box
    state.create(ALICE, "team")
    catalog.fail = True
    _swr_error(signed(client, ALICE, "GET", "/v2/manage/repos"), 502, "SVCSTG.SWR.5020000")


@pytest.mark.parametrize("path", ["/", "/v2"])
def test_api_versions(box, path):
    # swr.md §1.4: GET / and GET /v2 on the API host list the API versions.
    resp = box[0].get(path)
    assert resp.status_code == 200 and resp.get_json() == {"versions": [{
        "id": "v2", "links": {"href": "http://localhost/v2/"}, "min_version": "2.0", "status": "CURRENT",
        "version": "2.26"}]}


def test_unknown_path_is_apigw_404(box):
    body = box[0].get("/v2/manage/nothing-here/at-all").get_json()
    assert body["error_code"] == "APIGW.0101"
    resp = box[0].get("/no/such/api")
    assert resp.status_code == 404 and resp.get_json()["error_code"] == "APIGW.0101"


# --- dockyard --------------------------------------------------------------------------------------

def test_dockyard_requires_login(box):
    resp = box[0].get("/dockyard/v2/namespaces/team")
    assert resp.status_code == 401 and resp.get_json()["errors"][0]["errorCode"] == "SVCSTG.SWR.4010000"
    resp = box[0].get("/dockyard/v2/namespaces/team", headers=basic(ALICE.access_id, ALICE.sk))
    assert resp.status_code == 401 and resp.get_json() == AUTH_ERROR


def test_dockyard_namespace_flow(box):
    client, _, catalog = box
    missing = client.get("/dockyard/v2/namespaces/team", headers=login(ALICE))
    assert missing.status_code == 200 and missing.get_json() == {}
    assert client.post("/dockyard/v2/namespaces", json={"namespace": "team"}, headers=login(ALICE)).status_code == 201
    catalog.repos = [Repository("team", "app", ["v1"]), Repository("team", "empty", [])]
    got = client.get("/dockyard/v2/namespaces/team", headers=login(ALICE)).get_json()
    assert got == {"id": 1, "name": "team", "creator_name": "eu-de", "auth": 7, "user_count": 1, "image_count": 1}
    visible = client.get("/dockyard/v2/visible/namespaces", headers=login(ALICE)).get_json()
    assert [n["name"] for n in visible["namespaces"]] == ["team"]
    assert client.get("/dockyard/v2/namespaces/team", headers=login(BOB)).get_json() == {}
    taken = client.post("/dockyard/v2/namespaces", json={"namespace": "team"}, headers=login(BOB))
    assert taken.status_code == 409 and taken.get_json()[0]["errorCode"] == "SVCSTG.SWR.4090060"


def test_dockyard_create_validates(box):
    client = box[0]
    resp = client.post("/dockyard/v2/namespaces", data=b"{oops", headers=login(ALICE))
    assert resp.status_code == 400 and resp.get_json()[0]["errorCode"] == "SVCSTG.SWR.4000001"
    resp = client.post("/dockyard/v2/namespaces", json={"namespace": "Bad"}, headers=login(ALICE))
    assert resp.status_code == 400 and resp.get_json()[0]["errorCode"] == "SVCSTG.SWR.4001028"


def test_dockyard_repositories(box):
    client, state, catalog = box
    state.create(ALICE, "team")
    catalog.repos = [Repository("team", "a/b", ["1.0"], 42)]
    resp = client.get("/dockyard/v2/repositories?filter=center::self", headers=login(ALICE))
    [entry] = resp.get_json()
    fields = {"name", "category", "description", "size", "is_public", "num_images", "num_download", "created_at",
              "updated_at", "logo", "url", "path", "internal_path", "domain_name", "namespace", "tags", "status",
              "total_range"}
    assert set(entry) == fields and entry["name"] == "a/b" and entry["namespace"] == "team"
    assert entry["tags"] == ["1.0"] and entry["size"] == 42 and entry["total_range"] == 1


# --- tenants ---------------------------------------------------------------------------------------

def test_tenant_specs():
    tenant = Tenant.parse("eu-de:SBXPARSE000000000001:secret:with:colons-0123")
    assert tenant.sk == "secret:with:colons-0123" and tenant.access_id == "eu-de@SBXPARSE000000000001"
    assert "secret" not in repr(tenant)
    for bad in ("eu-de:AK", "EU:SBXPARSE000000000001:secret-0123456789", "eu-de:lower0000000000001:s" * 1):
        with pytest.raises(CredentialError):
            Tenant.parse(bad)
    with pytest.raises(CredentialError, match="more than one"):
        parse_tenants(["eu-de:SBXPARSE000000000001:secret-0123456789",
                       "eu-nl:SBXPARSE000000000001:secret-9876543210"])
