"""The huawei-SWR calls on the endpoint, with the secret as SK (signed API) and as login key (dockyard)."""


import pytest

from tests.integration.relay.helpers import basic


@pytest.mark.parametrize("secret_kind", ["sk", "login_key"])
def test_namespace_lifecycle_through_the_endpoint(make_app, tenant, secret_kind):
    client = make_app(organizations={"auto_create": True}).test_client()
    auth = basic(tenant, getattr(tenant, secret_kind))
    ns = f"dock-{secret_kind.replace('_', '')}"
    missing = client.get(f"/dockyard/v2/namespaces/{ns}", headers=auth)
    assert missing.status_code == 200 and missing.get_json() == {}
    created = client.post("/dockyard/v2/namespaces", json={"namespace": ns}, headers=auth)
    assert created.status_code == 201
    found = client.get(f"/dockyard/v2/namespaces/{ns}", headers=auth).get_json()
    assert found["name"] == ns and set(found) >= {"id", "creator_name", "auth"}
    visible = client.get("/dockyard/v2/visible/namespaces", headers=auth).get_json()["namespaces"]
    assert ns in [n["name"] for n in visible]
    assert isinstance(client.get("/dockyard/v2/repositories?filter=center::self", headers=auth).get_json(), list)


def test_dockyard_refusals_answer_in_swr_shape(make_app, tenant):
    client = make_app().test_client()
    unauth = client.get("/dockyard/v2/namespaces/x", headers=basic(tenant, "y" * 40))
    assert unauth.status_code == 401
    assert unauth.get_json() == {"errors": [{"errorCode": "SVCSTG.SWR.4010000", "errorMessage": "Authenticate Error"}]}
    bad = client.post("/dockyard/v2/namespaces", json={"namespace": "Bad_Name!"}, headers=basic(tenant, tenant.sk))
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["errorCode"] == "SVCSTG.SWR.4001028"
    nobody = client.post("/dockyard/v2/namespaces", json={"nope": 1}, headers=basic(tenant, tenant.sk))
    assert nobody.status_code == 400 and "namespace" in nobody.get_json()["errors"][0]["errorMessage"]


def test_swr_token_path_issues_rfc3339_tokens(make_app, tenant):
    client = make_app().test_client()
    resp = client.get("/swr/auth/v2/registry/auth?scope=repository:org/app:push,pull",
                      headers=basic(tenant, tenant.login_key))
    body = resp.get_json()
    assert resp.status_code == 200 and body["issued_at"].endswith("Z") and body["token"]
    v2 = client.get("/v2/", headers={"Authorization": f"Bearer {body['token']}"})
    assert v2.status_code == 200
