"""SWR organizations and repositories: the AK/SK-signed management API, and the dockyard fallback."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

import requests

from adapter.swr.credentials import AccessID, is_login_key, registry_password
from adapter.swr.signer import SdkHmacSha256Auth
from adapter.transfer.errors import unresolved
from harbor_client.units import retry_after

log = logging.getLogger(__name__)

JSON_TYPE = "application/json;charset=utf-8"
DEFAULT_TIMEOUT = (3.05, 30)
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
MAX_RETRY_AFTER = 60.0
# SWR error codes (swr.md §2.2), compared by their numeric tail ("SVCSTG.SWR.4000097" -> "4000097").
QUOTA_CODES = frozenset({"4000097"})
NAME_CODES = frozenset({"4001028", "4001029", "4009021"})
THROTTLE_CODES = frozenset({"4031032", "4031042"})
_CODE_KEYS = ("error_code", "errorCode", "code")
_MESSAGE_KEYS = ("error_msg", "errorMessage", "errorMsg", "message")


class SwrError(Exception):
    """Anything that went wrong talking to SWR."""


class SwrUnreachable(SwrError):
    """No HTTP answer at all; `kind` is "connect", "timeout" or "dns" (the host name does not resolve)."""

    def __init__(self, kind: str, method: str, url: str, reason):
        super().__init__(f"SWR unreachable ({kind}) on {method} {url}: {reason}")
        self.kind, self.url = kind, url


class SwrHTTPError(SwrError):
    """SWR answered with an error status; `code` and `message` are SWR's own."""

    def __init__(self, status: int, code: str | None, message: str, request_id: str | None = None):
        self.status, self.code, self.message, self.request_id = status, code, message, request_id
        text = f"SWR answered {status}{f' {code}' if code else ''}: {message}"
        super().__init__(text + (f" (request id {request_id})" if request_id else ""))


class SwrAuthError(SwrHTTPError):
    """401/403: credentials refused or not allowed."""


class SwrNotFound(SwrHTTPError):
    pass


class SwrConflict(SwrHTTPError):
    pass


class SwrQuotaExceeded(SwrHTTPError):
    """400 SVCSTG.SWR.4000097: the account's organization quota is used up."""


class SwrNameInvalid(SwrHTTPError):
    """400: SWR refused an organization, image or tag name."""


class SwrThrottled(SwrHTTPError):
    """429, or SWR's 403 "too many requests" codes; worth retrying later."""


class SwrServerError(SwrHTTPError):
    pass


def _find_error(doc) -> tuple[str | None, str | None, str | None] | None:
    """(code, message, detail) from the first object that looks like an error, depth first."""
    if isinstance(doc, list):
        return next((found for found in map(_find_error, doc) if found), None)
    if not isinstance(doc, dict):
        return None
    code = next((doc[k] for k in _CODE_KEYS if doc.get(k) not in (None, "")), None)
    message = next((doc[k] for k in _MESSAGE_KEYS if doc.get(k) not in (None, "")), None)
    if code is not None or message is not None:
        detail = doc.get("detail")
        return (None if code is None else str(code), None if message is None else str(message),
                detail if isinstance(detail, str) and detail else None)
    return next((found for found in map(_find_error, doc.values()) if found), None)


def error_from_response(resp: requests.Response) -> SwrHTTPError:
    """Reads every error shape SWR and its gateway use (swr.md §2.2) into the exception tree."""
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    code, message, detail = _find_error(doc) or (None, None, None)
    if message is None:
        message = resp.text.strip()[:500] or resp.reason or f"HTTP {resp.status_code}"
    if detail:
        message = f"{message}: {detail}"
    request_id = resp.headers.get("X-Request-Id") or (doc.get("request_id") if isinstance(doc, dict) else None)
    return _error_class(resp.status_code, code)(resp.status_code, code, message, request_id)


def _error_class(status: int, code: str | None) -> type[SwrHTTPError]:
    tail = (code or "").rsplit(".", 1)[-1]
    if status == 429 or (status == 403 and tail in THROTTLE_CODES):
        return SwrThrottled
    if status == 400 and tail in QUOTA_CODES:
        return SwrQuotaExceeded
    if status == 400 and tail in NAME_CODES:
        return SwrNameInvalid
    by_status = {401: SwrAuthError, 403: SwrAuthError, 404: SwrNotFound, 409: SwrConflict}
    return by_status.get(status) or (SwrServerError if status >= 500 else SwrHTTPError)


def _segment(value: str) -> str:
    return quote(value, safe="")  # as huaweicloudsdkcore encodes path parameters


class _Client:
    """The transport both clients share: one session, one `_request()`, one retry policy."""

    def __init__(self, base_url: str, auth, *, session, timeout, retries, sleep, backoff=0.5):
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self.session = session or requests.Session()
        self.timeout, self.retries, self.backoff, self._sleep = timeout, retries, backoff, sleep

    def _request(self, method: str, path: str, *, json_body=None, params=None) -> requests.Response:
        """Sends with auth and a timeout; retries idempotent calls on 429/throttling/5xx/connect errors."""
        url = self.base_url + path
        data = None if json_body is None else json.dumps(json_body).encode()
        attempts = self.retries + 1 if method in IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            delay = None
            try:
                resp = self.session.request(method, url, params=params, data=data, auth=self._auth,
                                            headers={"Content-Type": JSON_TYPE}, timeout=self.timeout)
            except requests.ConnectTimeout as exc:  # nothing reached SWR: safe to try again
                error = SwrUnreachable("timeout", method, url, exc)
            except requests.Timeout as exc:  # a read timeout already cost the full timeout; do not multiply it
                raise SwrUnreachable("timeout", method, url, exc) from exc
            except requests.ConnectionError as exc:
                if unresolved(exc):
                    raise SwrUnreachable("dns", method, url, exc) from exc
                error = SwrUnreachable("connect", method, url, exc)
            else:
                if resp.status_code < 400:
                    return resp
                error = error_from_response(resp)
                if not isinstance(error, (SwrThrottled, SwrServerError)):
                    raise error
                delay = retry_after(resp.headers.get("Retry-After"))
            if attempt >= attempts:
                raise error
            wait = min(delay, MAX_RETRY_AFTER) if delay is not None else self.backoff * 2 ** (attempt - 1)
            log.warning("%s %s failed (%s); retry %d/%d in %.2fs", method, path, error, attempt,
                        attempts - 1, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _json(resp: requests.Response):
        try:
            return resp.json()
        except ValueError:
            raise SwrHTTPError(resp.status_code, None, f"expected JSON, got {resp.text[:200]!r}") from None

    def ensure_organization(self, name: str) -> bool:
        """True if this call created `name`, False if it already was there for these credentials.

        Raises SwrConflict when the name is taken by another tenant (names are unique per region).
        """
        if self._find_organization(name) is not None:
            return False
        if self._create_organization(name):
            return True
        # 409 after "missing": a concurrent creator (now visible) or someone else's organization.
        if self._find_organization(name) is not None:
            return False
        raise SwrConflict(409, None, f"organization {name!r} exists but is not visible to these credentials; "
                                     "organization names are unique per region, choose another")


class SwrApi(_Client):
    """The management API at `https://swr-api.<region>.otc.t-systems.com`, signed SDK-HMAC-SHA256."""

    def __init__(self, base_url: str, ak: str, sk: str, *, project_id: str | None = None, session=None,
                 timeout=DEFAULT_TIMEOUT, retries: int = 3, sleep=time.sleep):
        super().__init__(base_url, SdkHmacSha256Auth(ak, sk, project_id), session=session,
                         timeout=timeout, retries=retries, sleep=sleep)
        self.ak = ak

    def __repr__(self):
        return f"SwrApi({self.base_url!r}, ak={self.ak!r})"

    def get_organization(self, name: str) -> dict | None:
        try:
            return self._json(self._request("GET", f"/v2/manage/namespaces/{_segment(name)}"))
        except SwrNotFound:
            return None

    def list_organizations(self) -> list[dict]:
        return self._json(self._request("GET", "/v2/manage/namespaces")).get("namespaces") or []

    def create_organization(self, name: str) -> bool:
        """True when created (201), False when it already exists (409)."""
        try:
            self._request("POST", "/v2/manage/namespaces", json_body={"namespace": name})
        except SwrConflict:
            return False
        return True

    def get_repository(self, organization: str, repository: str) -> dict | None:
        """`repository` may be nested (a/b); SWR wants its slashes as "$" in the path."""
        path = f"/v2/manage/namespaces/{_segment(organization)}/repos/{_segment(repository.replace('/', '$'))}"
        try:
            return self._json(self._request("GET", path))
        except SwrNotFound:
            return None

    def list_repositories(self, namespace: str | None = None, page_size: int = 100) -> list[dict]:
        """All repositories (of one organization if given), following offset/limit pages."""
        return self._pages("/v2/manage/repos", {"namespace": namespace} if namespace else {}, page_size,
                           "repositories")

    def list_tags(self, organization: str, repository: str, page_size: int = 1000) -> list[dict]:
        """Every tag of a repository, each with its manifest `digest` (note SWR's capitalised key `Tag`)."""
        path = f"/v2/manage/namespaces/{_segment(organization)}/repos/{_segment(repository.replace('/', '$'))}/tags"
        return self._pages(path, {}, page_size, "tags")

    def _pages(self, path: str, params: dict, page_size: int, what: str) -> list[dict]:
        """A listing's entries, following offset/limit pages until Content-Range's total or a short page."""
        found: list[dict] = []
        while True:
            resp = self._request("GET", path, params={**params, "offset": str(len(found)), "limit": str(page_size)})
            page = self._json(resp)
            if not isinstance(page, list):
                raise SwrHTTPError(resp.status_code, None, f"expected a JSON array of {what}")
            found.extend(page)
            total = resp.headers.get("Content-Range", "").rpartition("/")[2]
            if len(page) < page_size or (total.isdigit() and len(found) >= int(total)):
                return found

    _find_organization = get_organization
    _create_organization = create_organization


class DockyardClient(_Client):
    """The registry host's `/dockyard/v2` namespace calls with Basic auth, as Harbor's huawei-SWR adapter
    makes them; for when only a login key is known."""

    def __init__(self, registry_base_url: str, access_id: AccessID | str, login_key: str, *, session=None,
                 timeout=DEFAULT_TIMEOUT, retries: int = 3, sleep=time.sleep):
        username = str(access_id)
        # An SK is accepted too and turned into the login key; a login key is used as is.
        password = login_key if is_login_key(login_key) else registry_password(
            AccessID.parse(username).ak, login_key)
        super().__init__(registry_base_url, requests.auth.HTTPBasicAuth(username, password), session=session,
                         timeout=timeout, retries=retries, sleep=sleep)
        self.username = username

    def __repr__(self):
        return f"DockyardClient({self.base_url!r}, access_id={self.username!r})"

    def get_namespace(self, name: str) -> dict | None:
        """The namespace, or None; a 2xx whose `name` differs (Harbor's `200 {}`) also means missing."""
        try:
            doc = self._json(self._request("GET", f"/dockyard/v2/namespaces/{_segment(name)}"))
        except SwrNotFound:
            return None
        return doc if isinstance(doc, dict) and doc.get("name") == name else None

    def create_namespace(self, name: str) -> bool:
        try:
            self._request("POST", "/dockyard/v2/namespaces", json_body={"namespace": name})
        except SwrConflict:
            return False
        return True

    def list_namespaces(self) -> list[dict]:
        doc = self._json(self._request("GET", "/dockyard/v2/visible/namespaces"))
        return list(doc.get("namespaces") or []) if isinstance(doc, dict) else []

    def list_repositories(self) -> list[dict]:
        """The caller's own repositories, as `/dockyard/v2/repositories?filter=center::self` lists them."""
        doc = self._json(self._request("GET", "/dockyard/v2/repositories", params={"filter": "center::self"}))
        return doc if isinstance(doc, list) else []

    # The same names as SwrApi, so callers need not care which client they hold.
    get_organization = _find_organization = get_namespace
    list_organizations = list_namespaces
    _create_organization = create_namespace
