"""The client's transport: auth, robot accounts, from_env, no cookies, X-Request-Id, timeouts, session handling."""

from __future__ import annotations

import base64
import logging
import socket

import pytest
import requests

from harbor_client import (
    HarborClient,
    HarborError,
    HarborUnreachable,
    NotFound,
    Registry,
    RegistryPing,
    Unauthorized,
)
from tests.doubles.harbor import ADMIN


def _basic_user(record) -> str:
    token = record.headers["Authorization"].split(" ", 1)[1]
    return base64.b64decode(token).decode().split(":", 1)[0]


def test_base_url_gets_the_api_prefix_once():
    assert HarborClient("https://h.example.com/", None).base_url == "https://h.example.com/api/v2.0"
    assert HarborClient("https://h.example.com/api/v2.0/", None).base_url == "https://h.example.com/api/v2.0"


def test_robot_account_with_dollar_sign_authenticates(harbor_double, harbor_state):
    harbor_state.users["robot$bridge"] = "robot-secret"
    with HarborClient(harbor_double.url, ("robot$bridge", "robot-secret")) as client:
        assert client.projects.get("library").name == "library"
    assert _basic_user(harbor_double.last("GET", "/projects/{project_name_or_id}")) == "robot$bridge"


def test_wrong_password_is_unauthorized(harbor_double):
    with HarborClient(harbor_double.url, ("admin", "wrong")) as client:
        with pytest.raises(Unauthorized) as err:
            client.registries.get(1)
    assert err.value.status == 401 and err.value.codes == ["UNAUTHORIZED"]


def test_password_never_in_repr_or_logs(harbor_double, caplog):
    caplog.set_level(logging.DEBUG)
    client = HarborClient(harbor_double.url, ("admin", "Harbor12345-very-secret"))
    with pytest.raises(Unauthorized) as err:
        client.registries.get(1)
    client.close()
    for text in (repr(client), repr(client.auth), str(err.value), caplog.text):
        assert "Harbor12345-very-secret" not in text
    assert "admin" in repr(client)


@pytest.mark.parametrize(("verify", "expected"), [
    (None, True), ("true", True), ("1", True), ("false", False), ("0", False), ("no", False),
    ("{ca}", "{ca}"),
])
def test_from_env(verify, expected, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"HARBOR_URL": "https://harbor.example.com", "HARBOR_USERNAME": "robot$ci", "HARBOR_PASSWORD": "pw"}
    if verify is not None:
        env["HARBOR_VERIFY"] = verify.format(ca=ca)
    client = HarborClient.from_env(env)
    assert client.base_url == "https://harbor.example.com/api/v2.0"
    assert (client.auth.username, client.auth.password) == ("robot$ci", "pw")
    assert client.verify == (expected.format(ca=ca) if isinstance(expected, str) else expected)


@pytest.mark.parametrize(("env", "message"), [
    ({}, "HARBOR_URL"),
    ({"HARBOR_URL": "https://h", "HARBOR_USERNAME": "admin"}, "HARBOR_PASSWORD"),
    # Each was a requests traceback at the first call, or (the password) printed in "Harbor unreachable" lines.
    ({"HARBOR_URL": "not a url"}, r"HARBOR_URL: expected http\(s\)://host\[:port\]"),
    ({"HARBOR_URL": "https://harbor.example.com:99999999"}, r"HARBOR_URL: expected http\(s\)://"),
    ({"HARBOR_URL": "ftp://harbor.example.com"}, r"HARBOR_URL: expected http\(s\)://"),
    ({"HARBOR_URL": "https://admin:Harbor12345-very-secret@h"}, "HARBOR_URL must not carry a password"),
    ({"HARBOR_URL": "https://h", "HARBOR_VERIFY": "/nonexistent/ca.pem"}, "HARBOR_VERIFY: expected true, false or a CA"),
])
def test_from_env_refuses_incomplete_settings(env, message):
    with pytest.raises(HarborError, match=message) as info:
        HarborClient.from_env(env)
    assert "Harbor12345-very-secret" not in str(info.value)


def test_from_env_reads_os_environ(monkeypatch, harbor_double):
    monkeypatch.setenv("HARBOR_URL", harbor_double.url)
    monkeypatch.setenv("HARBOR_USERNAME", ADMIN[0])
    monkeypatch.setenv("HARBOR_PASSWORD", ADMIN[1])
    monkeypatch.delenv("HARBOR_VERIFY", raising=False)
    with HarborClient.from_env() as client:
        assert client.system.info().harbor_version == "v2.15.2-080b0220"


def test_every_call_sends_a_fresh_request_id(harbor_double, harbor):
    harbor.system.ping()
    harbor.system.info()
    ids = [r.headers.get("X-Request-Id") for r in harbor_double.requests]
    assert len(ids) == 2 and all(ids) and ids[0] != ids[1]


def test_request_id_is_kept_on_errors(harbor_double, harbor):
    with pytest.raises(NotFound) as err:
        harbor.registries.get(99)
    sent = harbor_double.last("GET", "/registries/{id}").headers["X-Request-Id"]
    assert err.value.request_id == sent
    assert sent in str(err.value)
    assert err.value.messages == ["registry 99 not found"]


def test_a_cookie_keeping_session_is_refused_on_writes_and_ours_is_not(harbor_double, harbor):
    # A plain requests.Session keeps Harbor's cookies and gets the CSRF 403 on its next write.
    naive = requests.Session()
    naive.auth = ADMIN
    naive.get(harbor_double.url + "/api/v2.0/systeminfo")
    assert {"sid", "_gorilla_csrf"} <= set(naive.cookies.keys())
    refused = naive.post(harbor_double.url + "/api/v2.0/registries/ping",
                         json={"type": "docker-registry", "url": "https://relay.example.com"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["message"] == "CSRF token invalid"
    # Ours reads and writes repeatedly; Harbor's Set-Cookie never comes back.
    for _ in range(3):
        harbor.system.info()
        harbor.registries.ping(RegistryPing(type="docker-registry", url="https://relay.example.com"))
    ours = harbor_double.calls()[-6:]
    assert all("Cookie" not in r.headers for r in ours)
    assert [r.status for r in ours] == [200] * 6
    assert len(harbor.session.cookies) == 0


def test_an_injected_session_gets_the_no_cookie_policy_and_is_not_closed(harbor_double):
    session = requests.Session()
    session.cookies.set("sid", "stale-session")
    with HarborClient(harbor_double.url, ADMIN, session=session) as client:
        assert client.session is session
        client.registries.create(Registry(name="r", url="https://r.example.com", type="docker-registry"))
    assert harbor_double.last("POST", "/registries").status == 201
    assert len(session.cookies) == 0
    # Still usable: the client did not close a session it does not own.
    assert session.get(harbor_double.url + "/api/v2.0/ping").text == "Pong"


class _RecordingSession(requests.Session):
    def __init__(self):
        super().__init__()
        self.kwargs = []

    def request(self, method, url, **kwargs):
        self.kwargs.append(kwargs)
        return super().request(method, url, **kwargs)


def test_every_request_carries_the_timeout_and_verify_setting(harbor_double):
    session = _RecordingSession()
    with HarborClient(harbor_double.url, ADMIN, session=session, timeout=(1, 2), verify=False) as client:
        client.system.ping()
        client.registries.create(Registry(name="r", url="https://r.example.com", type="docker-registry"))
        list(client.registries.list())
    assert len(session.kwargs) == 3
    assert all(k["timeout"] == (1, 2) and k["verify"] is False for k in session.kwargs)


def test_default_timeout_is_set():
    assert HarborClient("https://h", None).timeout == (3.05, 30)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_harbor(sleeps):
    client = HarborClient(f"http://127.0.0.1:{_closed_port()}", ADMIN, sleep=sleeps.append)
    with pytest.raises(HarborUnreachable) as err:
        client.system.ping()
    assert err.value.method == "GET" and err.value.url.endswith("/api/v2.0/ping")
    assert err.value.request_id and sleeps == []


def test_created_id_needs_a_location(harbor_double, harbor):
    harbor_double.fail("POST", "/registries", 201, body=b"", headers={})
    with pytest.raises(HarborError, match="no id in Location"):
        harbor.registries.create(Registry(name="r", url="https://r.example.com", type="docker-registry"))
