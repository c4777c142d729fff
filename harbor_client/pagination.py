"""Harbor list pagination (Link rel="next", X-Total-Count) and a builder for `q=` queries."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import requests

T = TypeVar("T")
MAX_PAGE_SIZE = 100  # swagger `page_size` maximum

# Harbor joins entries with " , " and writes the URL unescaped (harbor.md §3.4), so a comma inside
# a URL is possible: match whole <...>; rel="..." entries instead of splitting on commas.
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?([A-Za-z]+)"?')
_PAGE_RE = re.compile(r"[?&]page=(\d+)")


def parse_link_header(value: str | None) -> dict[str, str]:
    """`'</a?page=1>; rel="prev" , </a?page=3>; rel="next"'` -> {"prev": "/a?page=1", "next": "/a?page=3"}."""
    return {rel: url for url, rel in _LINK_RE.findall(value or "")}


def next_page(response: requests.Response) -> int | None:
    """The page number of the Link rel="next" target, or None on the last page."""
    match = _PAGE_RE.search(parse_link_header(response.headers.get("Link")).get("next", ""))
    return int(match.group(1)) if match else None


class Pages(Generic[T]):
    """Iterates every item of a Harbor list across its pages; `total` is X-Total-Count once known.

    The next link is only read for its page number: Harbor writes the link's query unescaped, so
    following it verbatim would corrupt a `q` holding `&`, `+` or `#`. Our own params are re-sent.
    """

    def __init__(self, fetch: Callable[[dict[str, Any]], requests.Response], params: dict[str, Any],
                 load: Callable[[Any], T]):
        self._fetch, self._params, self._load = fetch, params, load
        self.total: int | None = None

    def __iter__(self) -> Iterator[T]:
        page = int(self._params.get("page", 1))
        while page is not None:
            response = self._fetch({**self._params, "page": page})
            if "X-Total-Count" in response.headers:
                self.total = int(response.headers["X-Total-Count"])
            yield from (self._load(item) for item in response.json() or [])
            following = next_page(response)
            # A link that does not move forward would loop for ever.
            page = following if following is not None and following > page else None


def list_params(q: str | None = None, sort: str | None = None, page_size: int = MAX_PAGE_SIZE,
                **extra: Any) -> dict[str, Any]:
    """Query params for a list call; None values are left out rather than sent empty."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    params = {"q": q, "sort": sort, "page_size": page_size, **extra}
    return {k: v for k, v in params.items() if v is not None}


# --- q= builder -------------------------------------------------------------------------------------
# Harbor splits q on "," and list values on " " with no quoting (src/lib/q/builder.go), so such values
# cannot be expressed at all; it also URL-unescapes q once more after the usual query decoding.

class _Pattern:
    def __init__(self, text: str):
        self.text = text


def _atom(value: Any, *, in_list: bool = False) -> str:
    text = str(value)
    forbidden = " ,~[]{}()" if in_list else ","
    if not text or any(c in forbidden for c in text):
        raise ValueError(f"Harbor's q syntax cannot express {text!r}: no ',' at all, and no spaces, '~' "
                         f"or brackets inside ranges and lists")
    # Survive Harbor's second unescape: '%' and '+' would otherwise be decoded twice.
    return text.replace("%", "%25").replace("+", "%2B")


def fuzzy(value: Any) -> _Pattern:
    """`k=~value`: substring match."""
    return _Pattern("~" + _atom(value))


def between(low: Any = None, high: Any = None) -> _Pattern:
    """`k=[low~high]`; either end may be open."""
    if low is None and high is None:
        raise ValueError("between() needs at least one bound")
    ends = ["" if v is None else _atom(v, in_list=True) for v in (low, high)]
    return _Pattern(f"[{ends[0]}~{ends[1]}]")


def any_of(*values: Any) -> _Pattern:
    """`k={v1 v2}`: matches any of the values."""
    return _Pattern("{" + " ".join(_atom(v, in_list=True) for v in values) + "}")


def all_of(*values: Any) -> _Pattern:
    """`k=(v1 v2)`: matches all of the values."""
    return _Pattern("(" + " ".join(_atom(v, in_list=True) for v in values) + ")")


def _exact(value: Any) -> str:
    text = _atom(value)
    # A leading pattern character would be read as a pattern; Harbor strips one leading backslash.
    return "\\" + text if text[0] in "~[{(\\" else text


def query(**terms: Any) -> str:
    """`query(name="relay", type=any_of("harbor", "docker-registry"))` -> `name=relay,type={harbor docker-registry}`."""
    return ",".join(f"{key}={v.text if isinstance(v, _Pattern) else _exact(v)}" for key, v in terms.items())
