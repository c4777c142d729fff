"""The bridge's own API under /api/v1, behind a bearer token from `api.tokens_env`; errors as {"error": {...}}."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.exc import SQLAlchemyError

from adapter.errors import error_body
from adapter.webhooks import queries
from adapter.webhooks.bridge import token_matches
from adapter.webhooks.config import STATUSES, Duration, Instant
from adapter.webhooks.waiters import TooManyWaiters

bp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1")
# Ids the stores can hold; anything larger is a 404 from the router, not an overflow in the driver.
ID = "int(min=1, max=9223372036854775807)"
# Free-text filters reach the store: PostgreSQL refuses NUL in text (and answered 503 for it).
PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*\Z", error="must not contain control characters")
MAX_WAIT = 60.0  # below common load balancer idle timeouts; a client simply asks again
# An execution's key is negative for a group of id-less events (Harbor < 2.13, model.group_id).
KEY = "int(signed=True)"


def error(status: int, code: str, message: str, **extra):
    return jsonify(error_body(code, message, **extra)), status


MAX_OFFSET = 10_000  # deeper than this, `after` (one index range scan) is the way: an offset reads every row it skips


class Cursor(fields.String):
    """`after`: the `next` cursor of the previous page of the same list, decoded to its sort key."""

    def __init__(self, kinds: tuple[type, ...], **kwargs):
        super().__init__(validate=validate.Length(max=200), **kwargs)
        self.kinds = kinds

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return queries.decode_cursor(super()._deserialize(value, attr, data, **kwargs), self.kinds)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class PageArgs(Schema):
    class Meta:
        unknown = EXCLUDE  # tolerate cache-busting and similar extra query parameters

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(
        min=0, max=MAX_OFFSET, error=f"at most {MAX_OFFSET}; page deeper with after=<the previous page's next>"))

    @validates_schema
    def _one_way_to_page(self, data, **_):
        if data.get("offset") and data.get("after") is not None:
            raise ValidationError("give after or offset, not both", "after")


class ExecutionArgs(PageArgs):
    after = Cursor(queries.EXECUTION_KEYS)
    state = fields.String(validate=validate.OneOf(["open", "final"]))
    status = fields.String(validate=validate.OneOf(STATUSES))
    policy = fields.String(validate=validate.Length(min=1, max=256))
    since = Instant()
    until = Instant()


class WaitArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    wait = fields.String(validate=validate.OneOf(["final"]))
    timeout = Duration(load_default=30.0, validate=validate.Range(min=0, max=MAX_WAIT))
    since = fields.Integer(validate=validate.Range(min=0, max=2**62))


class EventArgs(PageArgs):
    after = Cursor(queries.EVENT_KEYS)
    status = fields.String(validate=validate.OneOf(STATUSES + ("running",)))
    execution_id = fields.Integer(validate=validate.Range(min=-(2**63), max=2**63 - 1))  # the execution's key
    event_type = fields.String(validate=[validate.Length(min=1, max=128), PRINTABLE])


class DeliveryArgs(PageArgs):
    after = Cursor(queries.DELIVERY_KEYS)
    state = fields.String(validate=validate.OneOf(["pending", "delivered", "dead"]))
    sink = fields.String(validate=[validate.Length(min=1, max=64), PRINTABLE])


# One instance each, shared by every request: building a schema costs more than loading with it.
EXECUTION_ARGS, WAIT_ARGS, EVENT_ARGS, DELIVERY_ARGS = ExecutionArgs(), WaitArgs(), EventArgs(), DeliveryArgs()


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


def _listing(schema: Schema, query):
    """A page of `query`'s items, filtered by the query string that `schema` checks."""
    args = schema.load(request.args.to_dict())
    with _bridge().store.read() as conn:
        page = query(conn, args)
    return jsonify(items=page, limit=args["limit"], offset=args["offset"], next=page.next)


def _one(query, what: str, ident: int):
    with _bridge().store.read() as conn:
        found = query(conn, ident)
    return jsonify(found) if found is not None else error(404, "NOT_FOUND", f"no {what} {ident}")


@bp.get("/executions")
def list_executions():
    return _listing(EXECUTION_ARGS, queries.list_executions)


@bp.get(f"/executions/<{KEY}:execution_id>")
def get_execution(execution_id: int):
    """With wait=final, a long poll: answers once the execution is settled (final with every task's outcome),
    or has changed from the version `since` names (since=0: once the bridge hears of it), or after `timeout`."""
    if not -(2**63) <= execution_id < 2**63:  # beyond what the stores hold: nothing there
        return error(404, "NOT_FOUND", f"no execution {execution_id}")
    args = WAIT_ARGS.load(request.args.to_dict())
    if args.get("wait") and not _waited(execution_id, args.get("since"), args["timeout"]):
        body, status = error(503, "TOO_MANY_WAITERS", "this replica holds its limit of waiting requests "
                             "(api.max_waiters); retry later")
        return body, status, {"Retry-After": "5"}
    return _one(lambda conn, ident: queries.get_execution(conn, ident, _bridge().grouper), "execution",
                execution_id)


def _waited(execution_id: int, since: int | None, timeout: float) -> bool:
    """Holds the request until the execution changes as asked or `timeout` passes; False over the limit."""
    store = _bridge().store

    def ready():
        with store.read() as conn:
            found = queries.execution_change(conn, execution_id)
        if found is not None and (found[1] or (since is not None and found[0] != since)):
            return True
        return None

    try:
        _bridge().waiters.wait(execution_id, ready, timeout)
    except TooManyWaiters:
        return False
    return True


@bp.get("/events")
def list_events():
    return _listing(EVENT_ARGS, queries.list_events)


@bp.get(f"/events/<{ID}:event_id>")
def get_event(event_id: int):
    return _one(queries.get_event, "event", event_id)


@bp.get("/deliveries")
def list_deliveries():
    return _listing(DELIVERY_ARGS, queries.list_deliveries)


@bp.post(f"/deliveries/<{ID}:delivery_id>/replay")
def replay_delivery(delivery_id: int):
    outcome = _bridge().outbox.replay(delivery_id, time.time())
    if outcome == "missing":
        return error(404, "NOT_FOUND", f"no delivery {delivery_id}")
    if outcome == "busy":
        return error(409, "CONFLICT", f"delivery {delivery_id} is still pending")
    with _bridge().store.read() as conn:
        return jsonify(queries.get_delivery(conn, delivery_id)), 202
