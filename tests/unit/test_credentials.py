"""Access IDs, the long-term login key (swr.md §1.1), secret checks, and `swr-bridge swr login-command`."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from adapter.cli import main
from adapter.swr.credentials import (
    AccessID,
    CredentialError,
    api_host,
    check_secret,
    is_login_key,
    login_command,
    login_key,
    registry_host,
    registry_password,
)

# swr.md §1.1 vector (computed there with the documented openssl pipeline and with Python's hmac).
AK = "ABCDEFGHIJKLMNOPQRST"
SK = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
KEY = "75350cd86c753806d9ac6a72e65c26b919ed5697326f468dee9095af59d24aae"
AUTH_B64 = ("ZXUtZGVAQUJDREVGR0hJSktMTU5PUFFSU1Q6NzUzNTBjZDg2Yzc1MzgwNmQ5YWM2YTcyZTY1YzI2YjkxOWVkNTY5NzMy"
            "NmY0NjhkZWU5MDk1YWY1OWQyNGFhZQ==")


def test_login_key_vector():
    assert login_key(AK, SK) == KEY


def test_basic_auth_vector():
    aid = AccessID.parse(f"eu-de@{AK}")
    assert base64.b64encode(f"{aid}:{login_key(aid.ak, SK)}".encode()).decode() == AUTH_B64


def test_login_command_vector():
    aid = AccessID.parse(f"eu-de@{AK}")
    assert login_command(aid, SK) == f"docker login -u eu-de@{AK} -p {KEY} swr.eu-de.otc.t-systems.com"
    assert login_command(aid, KEY, "registry.example:5000").endswith(f"-p {KEY} registry.example:5000")


@pytest.mark.parametrize("ak, sk", [("", SK), (AK, "")])
def test_login_key_needs_both(ak, sk):
    with pytest.raises(CredentialError, match="both AK and SK"):
        login_key(ak, sk)


@pytest.mark.parametrize("text, project, ak, region", [
    (f"eu-de@{AK}", "eu-de", AK, "eu-de"),
    (f"eu-nl@{AK}", "eu-nl", AK, "eu-nl"),
    (f"eu-de_otc@{AK}", "eu-de_otc", AK, "eu-de"),
    (f"eu-ch2@{AK}", "eu-ch2", AK, "eu-ch2"),
    ("eu-de_my-proj@AQR6NF5G2MQ1V7U4FCD0", "eu-de_my-proj", "AQR6NF5G2MQ1V7U4FCD0", "eu-de"),
])
def test_access_id_parses(text, project, ak, region):
    aid = AccessID.parse(text)
    assert (aid.project, aid.ak, aid.region, str(aid)) == (project, ak, region, text)


@pytest.mark.parametrize("text, needle", [
    ("", "access id is empty"),
    (None, "access id is empty"),
    ("eu-de", "exactly one '@'.*found 0"),
    (f"eu-de@{AK}@x", "exactly one '@'.*found 2"),
    (f"@{AK}", "project part ''"),
    (f"EU-DE@{AK}", "project part 'EU-DE'"),
    (f"eude@{AK}", "project part 'eude'"),
    (f"eu-de otc@{AK}", "project part 'eu-de otc'"),
    ("eu-de@", r"AK part .*\(got 0\)"),
    ("eu-de@SHORT", r"AK part .*\(got 5\)"),
    ("eu-de@" + "A" * 65, r"AK part .*\(got 65\)"),
    ("eu-de@abcdefghijklmnopqrst", "AK part .*upper-case letters and digits only"),
    (f"eu-de@{AK[:-1]}-", "AK part .*upper-case letters and digits only"),
])
def test_access_id_rejects_naming_the_part(text, needle):
    with pytest.raises(CredentialError, match=needle):
        AccessID.parse(text)


@pytest.mark.parametrize("secret, expected", [
    (KEY, True), (KEY.upper(), False), (KEY[:-1], False), (KEY + "0", False), (SK, False), ("", False),
    ("g" * 64, False),
])
def test_is_login_key(secret, expected):
    assert is_login_key(secret) is expected


@pytest.mark.parametrize("secret", [SK, KEY, "x" * 16, "0123456789abcdef0123"])
def test_check_secret_accepts(secret):
    check_secret(secret)


@pytest.mark.parametrize("secret, needle", [
    ("", "secret is empty"),
    ("abc123", "looks like a hex login key but has 6 characters, not 64"),
    ("ABCDEF0123", "looks like a hex login key but has 10 characters"),
    ("not-hex-short", "too short \\(13 characters\\)"),
    ("zz", "too short \\(2 characters\\)"),
])
def test_check_secret_rejects(secret, needle):
    with pytest.raises(CredentialError, match=needle) as info:
        check_secret(secret)
    assert secret == "" or secret not in str(info.value)


def test_registry_password_passes_a_login_key_through_and_derives_from_an_sk():
    assert registry_password(AK, KEY) == KEY
    assert registry_password(AK, SK) == KEY
    with pytest.raises(CredentialError):
        registry_password(AK, "short")


@pytest.mark.parametrize("region, registry, api", [
    ("eu-de", "swr.eu-de.otc.t-systems.com", "swr-api.eu-de.otc.t-systems.com"),
    ("eu-nl", "swr.eu-nl.otc.t-systems.com", "swr-api.eu-nl.otc.t-systems.com"),
    ("eu-ch2", "swr.eu-ch2.sc.otc.t-systems.com", "swr-api.eu-ch2.sc.otc.t-systems.com"),
])
def test_hosts(region, registry, api):
    assert (registry_host(region), api_host(region)) == (registry, api)


# --- the CLI ---

def run(args, env):
    return CliRunner().invoke(main, ["swr", "login-command", *args], env=env)


def test_cli_default_host_from_project():
    result = run(["--access-id", f"eu-de@{AK}"], {"SWR_SK": SK})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"docker login -u eu-de@{AK} -p {KEY} swr.eu-de.otc.t-systems.com\n"


def test_cli_sub_project_uses_the_region_host():
    result = run(["--access-id", f"eu-nl_team@{AK}"], {"SWR_SK": SK})
    assert result.exit_code == 0
    assert result.stdout.strip().endswith(" swr.eu-nl.otc.t-systems.com")


def test_cli_registry_option():
    result = run(["--access-id", f"eu-de@{AK}", "--registry", "swr.example.test"], {"SWR_SK": SK})
    assert result.exit_code == 0
    assert result.stdout.split() == ["docker", "login", "-u", f"eu-de@{AK}", "-p", KEY, "swr.example.test"]


def test_cli_sk_env_option():
    result = run(["--access-id", f"eu-de@{AK}", "--sk-env", "MY_SECRET"], {"MY_SECRET": SK, "SWR_SK": None})
    assert result.exit_code == 0
    assert f"-p {KEY} " in result.stdout


def test_cli_accepts_a_login_key_in_the_env():
    result = run(["--access-id", f"eu-de@{AK}"], {"SWR_SK": KEY})
    assert result.exit_code == 0 and f"-p {KEY} " in result.stdout


@pytest.mark.parametrize("args, env", [
    ([], {"SWR_SK": None}),
    (["--sk-env", "MY_SECRET"], {"SWR_SK": SK, "MY_SECRET": None}),
    ([], {"SWR_SK": ""}),
])
def test_cli_missing_env_is_a_usage_error(args, env):
    result = run(["--access-id", f"eu-de@{AK}", *args], env)
    assert result.exit_code == 2
    name = "MY_SECRET" if args else "SWR_SK"
    assert f"the SK is read from env {name}, which is not set" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("access_id, needle", [
    ("nonsense", "exactly one '@'"),
    (f"EU@{AK}", "project part 'EU'"),
    ("eu-de@lower", "AK part"),
])
def test_cli_bad_access_id(access_id, needle):
    result = run(["--access-id", access_id], {"SWR_SK": SK})
    assert result.exit_code == 2
    assert "--access-id" in result.stderr and needle in result.stderr
    assert result.stdout == ""


def test_cli_requires_access_id():
    result = run([], {"SWR_SK": SK})
    assert result.exit_code == 2 and "--access-id" in result.stderr


@pytest.mark.parametrize("access_id, sk", [
    (f"eu-de@{AK}", "Sh0rt-Secr3t"),  # too short
    (f"eu-de@{AK}", "c0ffee42"),  # looks like a truncated login key
    ("broken", "Wr0ng-But-Long-Secret-Value-1234567890"),  # bad access id, valid-looking SK
    (f"EU@{AK}", "Wr0ng-But-Long-Secret-Value-1234567890"),
])
def test_cli_never_prints_the_sk_on_errors(access_id, sk):
    result = run(["--access-id", access_id], {"SWR_SK": sk})
    assert result.exit_code == 2
    assert result.stderr  # there is an error message...
    assert sk not in result.stderr and sk not in result.output  # ...and it does not carry the SK
    assert result.exception is None or sk not in repr(result.exception)


def test_cli_output_never_contains_the_sk_on_success():
    result = run(["--access-id", f"eu-de@{AK}"], {"SWR_SK": SK})
    assert result.exit_code == 0 and SK not in result.output
