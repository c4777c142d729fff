"""swr-bridge's endpoint: `create_app(config)` wires one blueprint per surface (the webhook intake: WSGI middleware)."""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(config=None, *, budget_file: str | None = None, instance_key: str | None = None,
               login_file: str | None = None, seats_file: str | None = None):
    """Builds the Flask app from a BridgeConfig; a dict (or None: the embedded defaults) is validated first.

    `budget_file` is the bandwidth budget all workers of an instance share (None: this process's own),
    `instance_key` the key that seals tokens (None: read from the env the config names), `login_file` the
    secrets SWR refused, shared by the workers (None: this process's own), `seats_file` the SWR upload seats
    the workers share (None: this process's own).
    """
    from flask import Flask

    from adapter.config import BridgeConfig, load_data

    if not isinstance(config, BridgeConfig):
        config = load_data(config or {}, "<create_app>")
    from adapter.errors import JsonProvider

    app = Flask(__name__)
    app.config.update(BRIDGE=config, BUDGET_FILE=budget_file, INSTANCE_KEY=instance_key,
                      LOGIN_FILE=login_file, SEATS_FILE=seats_file)
    app.json = JsonProvider(app)
    app.json.sort_keys = False

    from adapter import access, dockyard, errors, health, metrics, registry, webhooks

    access.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    registry.init_app(app)
    dockyard.init_app(app)
    webhooks.init_app(app)
    return app
