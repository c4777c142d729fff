"""The bridge's own API under /api/v1, behind a bearer token from `api.tokens_env`; errors as {"error": {...}}."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy.exc import SQLAlchemyError

from adapter.errors import error_body
from adapter.webhooks import queries
from adapter.webhooks.bridge import token_matches
from adapter.webhooks.config import STATUSES

bp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1")
# Ids the stores can hold; anything larger is a 404 from the router, not an overflow in the driver.
ID = "int(min=1, max=9223372036854775807)"
# Free-text filters reach the store: PostgreSQL refuses NUL in text (and answered 503 for it).
PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*\Z", error="must not contain control characters")


def error(status: int, code: str, message: str, **extra):
    return jsonify(error_body(code, message, **extra)), status


class PageArgs(Schema):
    class Meta:
        unknown = EXCLUDE  # tolerate cache-busting and similar extra query parameters

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class ExecutionArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(["open", "final"]))
    status = fields.String(validate=validate.OneOf(STATUSES))


class EventArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES + ("running",)))
    execution_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    event_type = fields.String(validate=[validate.Length(min=1, max=128), PRINTABLE])


class DeliveryArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(["pending", "delivered", "dead"]))
    sink = fields.String(validate=[validate.Length(min=1, max=64), PRINTABLE])


def _bridge():
    return current_app.extensions["webhooks"]


@bp.before_request
def _authenticate():
    if not token_matches(request.headers.get("Authorization", ""), _bridge().api_tokens):
        return error(401, "UNAUTHORIZED", "a bearer token from api.tokens_env is required")
    return None


@bp.errorhandler(ValidationError)
def _invalid_query(err: ValidationError):
    return error(400, "INVALID_QUERY", "invalid query parameters", fields=err.messages)


@bp.errorhandler(SQLAlchemyError)
def _store_down(err: SQLAlchemyError):
    current_app.logger.error("webhook store unavailable: %s", type(err).__name__)
    return error(503, "STORE_UNAVAILABLE", "the webhook store is not available")


def _listing(schema: type[Schema], query):
    """A page of `query`'s items, filtered by the query string that `schema` checks."""
    args = schema().load(request.args.to_dict())
    with _bridge().store.read() as conn:
        return jsonify(items=query(conn, args), limit=args["limit"], offset=args["offset"])


def _one(query, what: str, ident: int):
    with _bridge().store.read() as conn:
        found = query(conn, ident)
    return jsonify(found) if found is not None else error(404, "NOT_FOUND", f"no {what} {ident}")


@bp.get("/executions")
def list_executions():
    return _listing(ExecutionArgs, queries.list_executions)


@bp.get(f"/executions/<{ID}:execution_id>")
def get_execution(execution_id: int):
    return _one(lambda conn, ident: queries.get_execution(conn, ident, _bridge().grouper), "execution",
                execution_id)


@bp.get("/events")
def list_events():
    return _listing(EventArgs, queries.list_events)


@bp.get(f"/events/<{ID}:event_id>")
def get_event(event_id: int):
    return _one(queries.get_event, "event", event_id)


@bp.get("/deliveries")
def list_deliveries():
    return _listing(DeliveryArgs, queries.list_deliveries)


@bp.post(f"/deliveries/<{ID}:delivery_id>/replay")
def replay_delivery(delivery_id: int):
    outcome = _bridge().outbox.replay(delivery_id, time.time())
    if outcome == "missing":
        return error(404, "NOT_FOUND", f"no delivery {delivery_id}")
    if outcome == "busy":
        return error(409, "CONFLICT", f"delivery {delivery_id} is still pending")
    with _bridge().store.read() as conn:
        return jsonify(queries.get_delivery(conn, delivery_id)), 202
