"""swr-bridge's endpoint: `create_app(config)` wires one blueprint per surface (the webhook intake: WSGI middleware)."""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(config: dict | None = None):
    """Builds the Flask app from a validated config dict (None means the embedded defaults)."""
    from flask import Flask

    from adapter.config import load_data

    if config is None or "swr" not in config:
        config = load_data(config or {}, "<create_app>")
    from adapter.errors import JsonProvider

    app = Flask(__name__)
    app.config["BRIDGE"] = config
    app.json = JsonProvider(app)
    app.json.sort_keys = False

    from adapter import dockyard, errors, health, logs, metrics, registry, webhooks

    logs.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    registry.init_app(app)
    dockyard.init_app(app)
    webhooks.init_app(app)
    return app
