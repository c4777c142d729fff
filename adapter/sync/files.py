"""image-syncer's `--auth` and `--images` files (or its deprecated single `--config` file), in JSON or YAML,
plus AK/SK entries for SWR hosts.

auth:   {"<host>[/<namespace>]": {"username", "password", "insecure", "ca_bundle"}}, or for SWR
        {"access_key", "secret_key", "project", "api", "dockyard"}; `${VAR}` / `$VAR` read the environment.
        Keys are normalised as references are (Docker Hub's aliases are docker.io); the longest key that
        is a path prefix of a repository is its account.
images: {"<source>": "<destination>" | ["<destination>", ...] | ""}, in file order.
Where image-syncer is lenient (an unset variable, an unknown field, half a credential) a Leniency warns,
or refuses under --strict.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from adapter.swr.credentials import AccessID, CredentialError, api_host, check_secret, registry_password
from adapter.swr.principal import Principal
from adapter.sync.errors import InputError, Leniency
from adapter.sync.references import normal_host

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
    ca_bundle: str | None = None

    @property
    def creds(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username else None


# The fields of an auth entry and their types ("url": an http(s) URL).
FIELDS = {"username": str, "password": str, "insecure": bool, "ca_bundle": "file", "access_key": str,
          "secret_key": str, "project": str, "api": "url", "dockyard": "url"}
_URL_RE = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def _checked(entry: dict, where: str, lenient: Leniency) -> dict:
    """The entry with `insecure` defaulted and unknown fields dropped (warned); a wrong type names its key."""
    known = {}
    for key, value in entry.items():
        kind = FIELDS.get(key)
        if kind is None:
            lenient.allow(f"{where}.{key}", f"unknown field; the fields are {', '.join(FIELDS)}",
                          "unknown field, ignored (as image-syncer ignores it)")
            continue
        if kind == "url" and not (isinstance(value, str) and _URL_RE.match(value)):
            raise InputError(f"{where}.{key}", f"{value!r} is not an http(s) URL")
        if kind == "file" and not (isinstance(value, str) and os.path.isfile(value)):
            raise InputError(f"{where}.{key}", f"{value!r} is not a readable file (PEM certificates)")
        if kind in (str, bool) and not isinstance(value, kind):
            raise InputError(f"{where}.{key}", f"must be {'true or false' if kind is bool else 'a string'}")
        known[key] = value
    return {"insecure": False, **known}


def read_document(path: str | os.PathLike, what: str):
    """A JSON or YAML file's content; the extension decides, anything else is read as YAML."""
    from provisioning.textfile import UnreadableFile, read_text

    source = str(path)
    try:
        text = read_text(path)
    except UnreadableFile as exc:
        raise InputError(f"{what} {source}", str(exc)) from None
    if source.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(source, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise InputError(source, "not valid JSON: nested too deeply") from None
        except ValueError:  # Python reads no integer past 4300 digits
            raise InputError(source, "not valid JSON: a number of more than 4300 digits") from None
    from provisioning.yamldoc import YamlSyntaxError, parse_yaml  # only YAML files pay for it

    try:
        return parse_yaml(text)
    except YamlSyntaxError as exc:
        raise InputError(source, str(exc)) from None


def _expand(value: str, where: str, lenient: Leniency) -> str:
    """`${VAR}` and `$VAR` from the environment; an unset one is empty (Go's os.ExpandEnv), warned once."""
    def sub(match):
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            lenient.allow(where, f"environment variable {name} is not set",
                          f"environment variable {name} is not set: it reads as an empty string, as in image-syncer",
                          key=("unset", name))
            return ""
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
                   data.get("api") or f"https://{api_host(access_id.region)}", data.get("dockyard"),
                   data.get("ca_bundle"))


def _half(data: dict) -> str | None:
    """What is wrong with a username/password pair that image-syncer would not send (None: nothing)."""
    user, password = data.get("username"), data.get("password")
    if user and password:
        return None
    return "a username without a password" if user else "a password without a username" if password else \
        "an empty username and password"


def _account(key: str, data: dict, where: str, lenient: Leniency) -> Account:
    has_user, has_ak = "username" in data or "password" in data, "access_key" in data or "secret_key" in data
    if has_user and has_ak:
        raise InputError(where, "give username/password or access_key/secret_key, not both")
    if data["insecure"] and data.get("ca_bundle"):
        raise InputError(where, "give insecure (no verification) or ca_bundle (verified with it), not both")
    if has_ak:
        missing = [k for k in ("access_key", "secret_key") if not data.get(k)]
        if missing:
            raise InputError(where, f"{missing[0]} is missing")
        return _swr_account(key, data, where)
    half = _half(data) if has_user else None
    if half:  # image-syncer sends credentials only when both are there: anonymous, as there
        lenient.allow(where, "username and password go together", f"{half}: its registry is read anonymously, "
                      "as image-syncer reads it")
        has_user = False
    principal = _swr_login(data) if has_user else None
    password = principal.password if principal else data.get("password") if has_user else None
    return Account(key, data.get("username") if has_user else None, password, data["insecure"], principal,
                   data.get("api"), data.get("dockyard"), data.get("ca_bundle"))


def _swr_login(data: dict) -> Principal | None:
    """`<project>@<AK>` with the login key (or the SK, as Harbor's Access Secret may be): an SWR account,
    whose registry password is the login key and whose organizations can be made. None otherwise."""
    try:
        AccessID.parse(data["username"])
        check_secret(data["password"])
    except CredentialError:
        return None
    return Principal(data["username"], data["password"])


def auth_key(key: str) -> str:
    """An auth key as references name hosts: lower case, no scheme or trailing slash, Docker Hub's aliases
    (and docker login's `https://index.docker.io/v1/`) as docker.io."""
    key = re.sub(r"^https?://", "", key.strip().lower()).rstrip("/")
    host, _, rest = key.partition("/")
    host = normal_host(host)
    if host == "docker.io" and rest == "v1":
        rest = ""
    return f"{host}/{rest}" if rest else host


def load_auth(path, lenient: Leniency | None = None) -> dict[str, Account]:
    """Accounts by auth key; a missing file path (None) means anonymous access everywhere."""
    if path is None:
        return {}
    return auth_from(read_document(path, "auth file"), str(path), lenient or Leniency())


def auth_from(doc, source: str, lenient: Leniency) -> dict[str, Account]:
    """Accounts by normalised auth key from an auth document (`source` names it in messages)."""
    doc = doc or {}
    if not isinstance(doc, dict):
        raise InputError(source, "the top level must be a mapping of registry hosts to credentials")
    accounts: dict[str, Account] = {}
    for key, entry in doc.items():
        where = f"{source}: key {key!r}"
        if not isinstance(key, str) or not key.strip() or not isinstance(entry, dict):
            raise InputError(where, "each entry is \"<host>[/<namespace>]\": {username, password, insecure}")
        entry = {k: _expand(v, f"{where}.{k}", lenient) if isinstance(v, str) else v for k, v in entry.items()}
        account = _account(key, _checked(entry, where, lenient), where, lenient)
        normal = auth_key(key)
        if normal in accounts:
            lenient.allow(where, f"names {normal} as key {accounts[normal].key!r} does",
                          f"names {normal} as key {accounts[normal].key!r} does; that first one is used")
            continue
        accounts[normal] = account
    return accounts


def account_for(accounts: dict[str, Account], name: str) -> Account | None:
    """The account whose key is the longest path prefix of `host/repository`."""
    best = None
    for key, account in accounts.items():
        if (name == key or name.startswith(key + "/")) and (best is None or len(key) > len(best[0])):
            best = (key, account)
    return best[1] if best else None


def load_images(path, lenient: Leniency | None = None) -> list[tuple[str, list[str], str]]:
    """(source, [destinations], where) per rule, in file order; an empty destination stays ""."""
    return images_from(read_document(path, "images file"), str(path), lenient or Leniency())


def images_from(doc, source_name: str, lenient: Leniency) -> list[tuple[str, list[str], str]]:
    if not isinstance(doc, dict) or not doc:
        raise InputError(source_name, "the top level must be a non-empty mapping of source to destination(s)")
    rules = []
    for source, dest in doc.items():
        where = f"{source_name}: key {source!r}"
        if not isinstance(source, str):
            raise InputError(where, "a source must be a string")
        dests = dest if isinstance(dest, list) else [dest]
        if not dests or not all(d is None or isinstance(d, str) for d in dests):
            raise InputError(where, "the destination must be a string or a non-empty list of strings")
        rules.append((_expand(source, where, lenient),
                      [_expand(d or "", where, lenient) for d in dict.fromkeys(dests)], where))
    return rules


def load_config(path, lenient: Leniency) -> tuple[dict[str, Account], list[tuple[str, list[str], str]]]:
    """image-syncer's deprecated single file (before v1.2): {"auth": {...}, "images": {...}}."""
    doc = read_document(path, "config file")
    if not isinstance(doc, dict) or "images" not in doc:
        raise InputError(str(path), "image-syncer's --config file is a mapping with `images` (and `auth`); "
                                    "the endpoint's own config file goes to --bridge-config")
    for key in doc.keys() - {"auth", "images"}:
        lenient.allow(f"{path}: key {key!r}", "unknown field; the fields are auth, images",
                      "unknown field, ignored (as image-syncer ignores it)")
    return auth_from(doc.get("auth"), f"{path} auth", lenient), images_from(doc["images"], f"{path} images", lenient)
