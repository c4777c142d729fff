"""The webhook bridge: durable intake of Harbor REPLICATION webhooks, grouping, routes, sinks and the outbox."""


def init_app(app) -> None:
    """Wires the bridge when `webhooks:` is configured; its store and template imports load only then,
    which keeps a relay-only worker small."""
    if not app.config["BRIDGE"].webhooks:
        return
    from adapter.webhooks.middleware import init_app as init_views

    init_views(app)
