"""Liveness and readiness: /healthz says the process is up."""

from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def init_app(app):
    app.register_blueprint(bp)
