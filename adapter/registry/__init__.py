"""The /v2 Registry surface that Harbor pushes to, relayed to SWR."""


def init_app(app):
    from adapter.registry.views import init_app as _init

    _init(app)
