"""Helpers the double's views share: routing by swagger path, Harbor errors, lists, q=, go-swagger output."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import unquote, unquote_plus, urlencode

from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from tests.doubles.harbor.swagger import BASE_PATH, contract, unknown_to

STATUS_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT", 412: "PRECONDITION",
                415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUEST"}


def route(bp: Blueprint, method: str, swagger_path: str, *, anonymous: bool = False) -> Callable:
    """Register a view for one swagger operation; the app validates the request against it first."""

    def register(view: Callable) -> Callable:
        view.swagger_route = (method, swagger_path)
        view.anonymous = anonymous
        rule = BASE_PATH + re.sub(r"\{(\w+)\}", r"<\1>", swagger_path)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        return view

    return register


def state() -> Any:
    return current_app.extensions["harbor_double"].state


def body() -> Any:
    """The request body, already validated against the swagger."""
    return g.checked.body


def arg(name: str) -> Any:
    """A query or header parameter, converted to its swagger type (with its swagger default)."""
    return g.checked.query.get(name, g.checked.headers.get(name))


def harbor_error(status: int, message: str, code: str | None = None) -> Response:
    # Harbor hides every 5xx behind UNKNOWN / "internal server error" (harbor.md §4.4).
    if status >= 500:
        code, message = "UNKNOWN", "internal server error"
    response = jsonify({"errors": [{"code": code or STATUS_CODES.get(status, "UNKNOWN"), "message": message}]})
    response.status_code = status
    return response


def fail(status: int, message: str) -> NoReturn:
    """End the view with a Harbor error answer."""
    abort(harbor_error(status, message))


def found(record: Any, what: str) -> Any:
    """`record`, unless it is None: then the view ends with Harbor's 404 "<what> not found"."""
    if record is None:
        fail(404, f"{what} not found")
    return record


def name_free(records: dict[int, dict[str, Any]], name: str, own_id: int | None, what: str) -> None:
    """Harbor's 409 "<what> <name> already exists" when a record other than `own_id` has the name."""
    if any(r["name"] == name and r["id"] != own_id for r in records.values()):
        fail(409, f"{what} {name} already exists")


def created(new_id: int) -> Response:
    """201, no body, Location = request path + "/" + id."""
    return Response(status=201, headers={"Location": f"{request.path.rstrip('/')}/{new_id}"})


def ok() -> Response:
    return Response(status=200)


def wire(definition: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as go-swagger writes it: `_` keys dropped, zero values omitted unless x-omitempty is false
    or the field is a pointer (x-nullable / x-isnullable / a $ref), and fields newer than the Harbor the
    double plays left out, as that Harbor's model has none of them."""
    props = contract().raw_definitions[definition].get("properties", {})
    out, unknown = {}, unknown_to(definition, state().harbor_version)  # an older Harbor has no such field
    for key, value in record.items():
        spec = props.get(key, {})
        if key.startswith("_") or value is None or key in unknown:
            continue
        ref = spec.get("$ref") or spec.get("items", {}).get("$ref")
        if ref and isinstance(value, (dict, list)):
            inner = ref.rsplit("/", 1)[1]
            value = [wire(inner, v) for v in value] if isinstance(value, list) else wire(inner, value)
        pointer = "$ref" in spec or spec.get("x-nullable") or spec.get("x-isnullable")
        if spec.get("x-omitempty") is False or pointer or value not in (False, 0, "", [], {}):
            out[key] = value
    return out


def page_of(items: list[dict[str, Any]], definition: str) -> Response:
    """One page of `items` with X-Total-Count and Harbor's Link header."""
    page, size = arg("page"), arg("page_size")
    chunk = items[(page - 1) * size: page * size]
    response = jsonify([wire(definition, item) for item in chunk])
    response.headers["X-Total-Count"] = str(len(items))
    links = []
    if page > 1:
        links.append(f'<{_page_url(page - 1)}>; rel="prev"')
    if page * size < len(items):
        links.append(f'<{_page_url(page + 1)}>; rel="next"')
    if links:
        response.headers["Link"] = " , ".join(links)
    return response


def _page_url(page: int) -> str:
    # Harbor's links: the request path and its query with `page` replaced, keys sorted, unescaped.
    query = {k: v for k, v in request.args.lists()}
    query["page"] = [str(page)]
    return f"{request.path}?{unquote(urlencode(sorted(query.items()), doseq=True))}"


def parse_q(text: str | None) -> dict[str, Callable[[Any], bool]]:
    """Harbor's q= (src/lib/q): `k=v`, `k=~v`, `k=[a~b]`, `k={a b}`, `k=(a b)`, unescaped a second time.

    Raises ValueError with Harbor's message for a malformed term.
    """
    terms: dict[str, Callable[[Any], bool]] = {}
    if not text:
        return terms
    for part in unquote_plus(text).split(","):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise ValueError('the query string must contain "=" and the key/value cannot be empty')
        terms[key] = _matcher(value)
    return terms


def _matcher(value: str) -> Callable[[Any], bool]:
    if value[0] == "~":
        return lambda v: value[1:] in str(v)
    if value[0] == "[" and value.endswith("]") and value.count("~") == 1:
        low, high = (_typed(x) for x in value[1:-1].split("~"))
        return lambda v: (low == "" or v >= low) and (high == "" or v <= high)
    if value[0] in "{(" and value[-1] in "})":
        options = [_typed(x) for x in value[1:-1].split(" ") if x]
        return (lambda v: v in options) if value[0] == "{" else (lambda v: all(o in v for o in options))
    exact = value[1:] if value[0] == "\\" else value
    return lambda v: str(v) == exact


def _typed(text: str) -> Any:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else text.strip("\"'")


def select(items: list[dict[str, Any]], filterable: set[str]) -> list[dict[str, Any]]:
    """Apply `q` (and the deprecated fuzzy `name`) to a list; 400 for a malformed q."""
    try:
        terms = parse_q(arg("q"))
    except ValueError as exc:
        fail(400, str(exc))
    unknown = set(terms) - filterable
    if unknown:
        # Harbor ignores such keys; the double refuses them, since a misspelt key means "match everything".
        fail(400, f"q keys {sorted(unknown)} are not filterable here ({sorted(filterable)})")
    if arg("name"):
        terms["name"] = _matcher("~" + arg("name"))
    return [i for i in items if all(k in i and match(i[k]) for k, match in terms.items())]
