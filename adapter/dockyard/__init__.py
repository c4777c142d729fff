"""The huawei-SWR provider's calls (/dockyard/v2/..., /swr/auth/v2/registry/auth), served by the endpoint."""


def init_app(app):
    from adapter.dockyard.views import init_app as _init

    _init(app)
