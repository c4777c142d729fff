"""GET /ping and GET /systeminfo."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from tests.doubles.harbor.common import route, state, wire
from tests.doubles.harbor.state import now

bp = Blueprint("system", __name__)


@route(bp, "GET", "/ping", anonymous=True)
def ping(**_):
    return Response("Pong", content_type="text/plain")


@route(bp, "GET", "/systeminfo", anonymous=True)
def systeminfo(**_):
    info = {"auth_mode": "db_auth", "primary_auth_mode": False, "self_registration": False}
    if g.user:
        # Harbor only tells an authenticated caller its version and URLs (harbor.md §4.2).
        info.update(harbor_version=state().harbor_version, external_url="https://harbor.example.com",
                    registry_url="harbor.example.com", read_only=False, notification_enable=True,
                    has_ca_root=False, current_time=now(), registry_storage_provider_name="filesystem")
    return jsonify(wire("GeneralInfo", info))
