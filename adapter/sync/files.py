"""image-syncer's `--auth` and `--images` files, in JSON or YAML, plus AK/SK entries for SWR hosts.

auth:   {"<host>[/<namespace>]": {"username", "password", "insecure"}}, or for SWR
        {"access_key", "secret_key", "project", "api", "dockyard"}; `${VAR}` / `$VAR` read the environment.
        The longest key that is a path prefix of a repository is its account.
images: {"<source>": "<destination>" | ["<destination>", ...] | ""}, in file order.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from adapter.swr.credentials import AccessID, CredentialError, api_host, check_secret, registry_password
from adapter.swr.principal import Principal
from adapter.sync.errors import InputError

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SWR_HOST_RE = re.compile(r"^swr\.([a-z]{2}-[a-z]+[0-9]*)(?:\.sc)?\.otc\.t-systems\.com$")


@dataclass(frozen=True)
class Account:
    """The credentials for one auth key; `principal` is set for SWR accounts (organizations can be made)."""

    key: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    insecure: bool = False
    principal: Principal | None = None
    api: str | None = None
    dockyard: str | None = None

    @property
    def creds(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username else None


# The fields of an auth entry and their types ("url": an http(s) URL).
FIELDS = {"username": str, "password": str, "insecure": bool, "access_key": str, "secret_key": str,
          "project": str, "api": "url", "dockyard": "url"}
_URL_RE = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def _checked(entry: dict, where: str) -> dict:
    """The entry with `insecure` defaulted; an unknown field or a wrong type names its key."""
    for key, value in entry.items():
        kind = FIELDS.get(key)
        if kind is None:
            raise InputError(f"{where}.{key}", f"unknown field; the fields are {', '.join(FIELDS)}")
        if kind == "url" and not (isinstance(value, str) and _URL_RE.match(value)):
            raise InputError(f"{where}.{key}", f"{value!r} is not an http(s) URL")
        if kind in (str, bool) and not isinstance(value, kind):
            raise InputError(f"{where}.{key}", f"must be {'true or false' if kind is bool else 'a string'}")
    return {"insecure": False, **entry}


def read_document(path: str | os.PathLike, what: str):
    """A JSON or YAML file's content; the extension decides, anything else is read as YAML."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"{what} {source}", f"cannot read file: {exc.strerror}") from None
    try:
        if source.endswith(".json"):
            return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    from harbor_client.yamldoc import YamlSyntaxError, parse_yaml  # only YAML files pay for it

    try:
        return parse_yaml(text)
    except YamlSyntaxError as exc:
        raise InputError(source, str(exc)) from None


def _expand(value: str, where: str) -> str:
    def sub(match):
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise InputError(where, f"environment variable {name} is not set")
        return os.environ[name]
    return _ENV_RE.sub(sub, value)


def _region_of(host: str) -> str | None:
    match = _SWR_HOST_RE.match(host.split("/", 1)[0])
    return match.group(1) if match else None


def _swr_account(key: str, data: dict, where: str) -> Account:
    project = data.get("project") or _region_of(key)
    if not project:
        raise InputError(where, "project is needed (e.g. eu-de) when the host is not swr.<region>.otc.t-systems.com")
    try:
        access_id = AccessID.parse(f"{project}@{data['access_key']}")
        password = registry_password(access_id.ak, data["secret_key"])
    except CredentialError as exc:
        raise InputError(where, str(exc)) from None
    return Account(key, str(access_id), password, data["insecure"], Principal(str(access_id), data["secret_key"]),
                   data.get("api") or f"https://{api_host(access_id.region)}", data.get("dockyard"))


def _account(key: str, data: dict, where: str) -> Account:
    has_user, has_ak = "username" in data or "password" in data, "access_key" in data or "secret_key" in data
    if has_user and has_ak:
        raise InputError(where, "give username/password or access_key/secret_key, not both")
    if has_ak:
        missing = [k for k in ("access_key", "secret_key") if not data.get(k)]
        if missing:
            raise InputError(where, f"{missing[0]} is missing")
        return _swr_account(key, data, where)
    if has_user and not (data.get("username") and "password" in data):
        raise InputError(where, "username and password go together")
    principal = _swr_login(data) if has_user else None
    password = principal.password if principal else data.get("password")
    return Account(key, data.get("username"), password, data["insecure"], principal,
                   data.get("api"), data.get("dockyard"))


def _swr_login(data: dict) -> Principal | None:
    """`<project>@<AK>` with the login key (or the SK, as Harbor's Access Secret may be): an SWR account,
    whose registry password is the login key and whose organizations can be made. None otherwise."""
    try:
        AccessID.parse(data["username"])
        check_secret(data["password"])
    except CredentialError:
        return None
    return Principal(data["username"], data["password"])


def load_auth(path) -> dict[str, Account]:
    """Accounts by auth key; a missing file path (None) means anonymous access everywhere."""
    if path is None:
        return {}
    doc = read_document(path, "auth file") or {}
    if not isinstance(doc, dict):
        raise InputError(str(path), "the top level must be a mapping of registry hosts to credentials")
    accounts = {}
    for key, entry in doc.items():
        where = f"{path}: key {key!r}"
        if not isinstance(key, str) or not key.strip() or not isinstance(entry, dict):
            raise InputError(where, "each entry is \"<host>[/<namespace>]\": {username, password, insecure}")
        entry = {k: _expand(v, f"{where}.{k}") if isinstance(v, str) else v for k, v in entry.items()}
        accounts[key.strip().rstrip("/").lower()] = _account(key, _checked(entry, where), where)
    return accounts


def account_for(accounts: dict[str, Account], name: str) -> Account | None:
    """The account whose key is the longest path prefix of `host/repository`."""
    best = None
    for key, account in accounts.items():
        if (name == key or name.startswith(key + "/")) and (best is None or len(key) > len(best[0])):
            best = (key, account)
    return best[1] if best else None


def load_images(path) -> list[tuple[str, list[str], str]]:
    """(source, [destinations], where) per rule, in file order; an empty destination stays ""."""
    doc = read_document(path, "images file")
    if not isinstance(doc, dict) or not doc:
        raise InputError(str(path), "the top level must be a non-empty mapping of source to destination(s)")
    rules = []
    for source, dest in doc.items():
        where = f"{path}: key {source!r}"
        if not isinstance(source, str):
            raise InputError(where, "a source must be a string")
        dests = dest if isinstance(dest, list) else [dest]
        if not dests or not all(d is None or isinstance(d, str) for d in dests):
            raise InputError(where, "the destination must be a string or a non-empty list of strings")
        rules.append((_expand(source, where), [_expand(d or "", where) for d in dict.fromkeys(dests)], where))
    return rules
