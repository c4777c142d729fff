"""A local stand-in for Open Telekom Cloud SWR: token service, /v2/manage, /dockyard over docker-registry.

Demo tenant, used when no --tenant / SWR_SANDBOX_TENANTS is given (sandbox only, never a real account):
project eu-de, AK SBXDEMOACCESSKEY0001, SK sandbox-demo-secret-key-0123456789abcdef; registry login
`eu-de@SBXDEMOACCESSKEY0001` with the login key hex(HMAC-SHA256(key=SK, msg=AK)).
"""

__all__ = ["DEMO_TENANT", "Sandbox", "SandboxError", "Tenant"]


def __getattr__(name):
    # Lazy, so that `swr-bridge --help` (which imports adapter.sandbox.cli) stays quick.
    if name in ("DEMO_TENANT", "Sandbox", "SandboxError"):
        from adapter.sandbox import runner

        return getattr(runner, name)
    if name == "Tenant":
        from adapter.sandbox.state import Tenant

        return Tenant
    raise AttributeError(name)
