"""The double's Flask app: every request is journaled, checked like Harbor's middleware and swagger, then served."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import traceback
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from tests.doubles.harbor.common import harbor_error
from tests.doubles.harbor.journal import WRITE_METHODS, Fault, RecordedRequest, Violation
from tests.doubles.harbor.swagger import contract, fields_too_new
from tests.doubles.harbor.validation import check_request
from tests.doubles.harbor.views import blueprints

# Harbor's session and CSRF cookies. A write that carries one is CSRF-checked and, without the
# matching X-Harbor-CSRF-Token, refused (harbor.md §4.1).
CSRF_COOKIES = {"sid", "_gorilla_csrf"}


def create_app(double: Any) -> Flask:
    """The app for one HarborDouble (it needs `.state` and `.journal`)."""
    app = Flask("harbor_double")
    app.extensions["harbor_double"] = double
    for bp in blueprints():
        app.register_blueprint(bp)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)
    return app


def _double() -> Any:
    return current_app.extensions["harbor_double"]


def _violate(kind: str, message: str) -> None:
    _double().journal.violate(Violation(kind, request.method, request.path, message))


def _view() -> Any:
    return current_app.view_functions.get(request.endpoint) if request.endpoint else None


def _record() -> RecordedRequest:
    view = _view()
    try:
        payload = json.loads(request.get_data()) if request.get_data() else None
    except ValueError:
        payload = request.get_data(as_text=True)
    record = RecordedRequest(request.method, request.path, getattr(view, "swagger_route", (None, None))[1],
                             request.args.to_dict(flat=False), dict(request.headers), payload)
    _double().journal.record(record)
    return record


def _user() -> str | None:
    """Basic auth against state.users; wrong or missing credentials make the call anonymous, as in Harbor."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name if _double().state.users.get(name) == password else None


def _before() -> Response | None:
    g.record = _record()
    _double().state.refresh()
    view = _view()
    if view is None:
        return None  # Flask raises its 404/405 next; _http_error answers
    method, path = view.swagger_route
    fault = _double().journal.take_fault(method, path)
    if fault:
        g.fault = True
        return _fault_response(fault)
    if method in WRITE_METHODS and CSRF_COOKIES & request.cookies.keys():
        return harbor_error(403, "CSRF token invalid")
    g.user = _user()
    if g.user is None and not view.anonymous:
        return harbor_error(401, "unauthorized")
    return _validate(method, path)


def _fault_response(fault: Fault) -> Response:
    if fault.body is None:
        response = harbor_error(fault.status, "injected fault")
    elif isinstance(fault.body, (dict, list)):
        response = Response(json.dumps(fault.body), content_type="application/json")
    else:
        response = Response(fault.body, content_type="text/plain")
    response.status_code = fault.status
    response.headers.update(fault.headers)
    return response


def _validate(method: str, path: str) -> Response | None:
    op = contract().operation(method, path)
    g.checked = check_request(contract(), op, path=request.view_args or {}, query=request.args,
                              headers=request.headers, body=request.get_data(), content_type=request.content_type or "")
    problems = list(g.checked.problems)
    if request.accept_mimetypes.best_match(op["produces"]) is None:
        problems.append(f"Accept {request.headers.get('Accept')!r} matches none of {op['produces']}")
    body_param = next((p for p in op["parameters"] if p["in"] == "body"), None)
    if body_param and isinstance(g.checked.body, dict):
        definition = body_param["schema"]["$ref"].rsplit("/", 1)[1]
        problems += fields_too_new(definition, g.checked.body, _double().state.harbor_version)
    for problem in problems:
        _violate("request", problem)
    if problems:
        return harbor_error(400, "; ".join(problems))
    request.view_args.update(g.checked.path)
    return None


def _after(response: Response) -> Response:
    record = g.get("record")
    if record is not None:
        record.status = response.status_code
    response.headers["X-Request-Id"] = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    for name in sorted(CSRF_COOKIES):
        response.set_cookie(name, secrets.token_hex(16), path="/", httponly=True)
    view = _view()
    if view is not None and not g.get("fault"):
        _check_response(view.swagger_route, response)
    return response


def _check_response(swagger_route: tuple[str, str], response: Response) -> None:
    op = contract().operation(*swagger_route)
    spec = contract().response(op, response.status_code)
    if spec is None and response.status_code < 400:
        _violate("response", f"status {response.status_code} is not documented for this operation")
        return
    if response.status_code == 201 and not response.headers.get("Location"):
        _violate("response", "201 without a Location header")
    schema = (spec or {}).get("schema") or ({"$ref": "#/definitions/Errors"} if response.status_code >= 400 else None)
    if schema and response.is_json:
        for problem in contract().validate(schema, response.get_json()):
            _violate("response", f"status {response.status_code} body {problem}")


def _http_error(exc: HTTPException) -> Response:
    if exc.response is not None:
        return exc.response  # a view's fail(): already a Harbor error
    if exc.code in (404, 405) and request.url_rule is None:
        _violate("request", f"the Harbor double has no {request.method} route here ({exc.code}); "
                 "add it, or fix the client's path")
    return harbor_error(exc.code or 500, exc.description or exc.name)


def _crash(exc: Exception) -> Response:
    _violate("crash", "".join(traceback.format_exception(exc)))
    return harbor_error(500, "internal server error")
