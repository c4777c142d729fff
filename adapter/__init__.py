"""swr-bridge's endpoint: `create_app(config)` wires one blueprint per surface."""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(config: dict | None = None):
    """Builds the Flask app from a validated config dict (None means the embedded defaults)."""
    from flask import Flask

    from adapter.config import load_data

    if config is None or "swr" not in config:
        config = load_data(config or {}, "<create_app>")
    app = Flask(__name__)
    app.config["BRIDGE"] = config
    app.json.sort_keys = False

    from adapter import errors, health, logs, metrics

    logs.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    _init_optional(app)
    return app


def _init_optional(app) -> None:
    """Surfaces that register themselves when their module exists."""
    import importlib

    for name in ("adapter.registry", "adapter.dockyard", "adapter.webhooks.views", "adapter.api"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(exc.name or "\0"):
                raise
            continue
        if hasattr(module, "init_app"):
            module.init_app(app)
