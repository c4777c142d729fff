"""deploy/overlays/redis-budget: the base plus a Redis for the fleet-wide bandwidth budget, rendered
and validated offline against the Kubernetes schemas as the base is, then checked for the wiring the
budget relies on: the config points at the Service, the password reaches both sides from one Secret
key, nothing else of the base changes, and `swr-bridge serve --check` accepts the config."""

import subprocess

import kubernetes_validate
import yaml

from adapter.throttle import BandwidthSchema
from tests.integration.endpoint import SWR_BRIDGE
from tests.unit.ops.kustomize import load_all, render
from tests.unit.ops.test_deploy import BASE, DEPLOY, K8S, SECRET_TEMPLATE, config_of, container_named

REDIS = DEPLOY / "overlays" / "redis-budget"


def named(objects, kind: str, name: str) -> dict:
    [obj] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def secret_env(c: dict) -> dict:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}


def test_every_object_validates_strictly():
    for obj in render(REDIS):
        kubernetes_validate.validate(obj, K8S, strict=True)


def test_the_overlay_adds_redis_and_changes_only_the_budget():
    base, overlay = render(BASE), render(REDIS)
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in overlay)
    added = sorted(set(kinds) - {(o["kind"], o["metadata"]["name"]) for o in base})
    assert added == [("Deployment", "swr-bridge-redis"), ("Service", "swr-bridge-redis")]
    config, base_config = config_of([named(overlay, "ConfigMap", "swr-bridge-config")]), config_of(base)
    assert {k: v for k, v in config.items() if k != "bandwidth"} == {k: v for k, v in base_config.items() if k != "bandwidth"}
    budget_keys = {"backend", "password_env", "on_backend_error"}
    assert {k: v for k, v in config["bandwidth"].items() if k not in budget_keys} == base_config["bandwidth"]
    policy = BandwidthSchema().load(config["bandwidth"])
    assert policy.on_backend_error == "local-share"
    # The endpoint's Deployment gained the password and nothing else.
    app, base_app = container_named(overlay, "swr-bridge"), container_named(base, "swr-bridge")
    assert {e["name"] for e in app["env"]} - {e["name"] for e in base_app["env"]} == {policy.password_env}
    assert app["readinessProbe"] == base_app["readinessProbe"]


def test_the_config_points_at_the_service_with_the_secret_the_server_uses():
    overlay = render(REDIS)
    config = config_of([named(overlay, "ConfigMap", "swr-bridge-config")])
    service = named(overlay, "Service", "swr-bridge-redis")
    assert config["bandwidth"]["backend"] == f"redis://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/0"
    redis_pod = named(overlay, "Deployment", "swr-bridge-redis")["spec"]["template"]
    assert service["spec"]["selector"].items() <= redis_pod["metadata"]["labels"].items()
    # The endpoint's Service and PDB select the endpoint's pods, never Redis.
    endpoint_selector = named(overlay, "Service", "swr-bridge")["spec"]["selector"]
    assert not endpoint_selector.items() <= redis_pod["metadata"]["labels"].items()
    [redis] = redis_pod["spec"]["containers"]
    app_ref = secret_env(container_named(overlay, "swr-bridge"))[config["bandwidth"]["password_env"]]
    assert secret_env(redis)["REDIS_PASSWORD"] == app_ref
    assert redis["args"][redis["args"].index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    [secret] = load_all(SECRET_TEMPLATE)
    assert app_ref["name"] == secret["metadata"]["name"] and app_ref["key"] in secret["stringData"]
    assert redis["securityContext"]["readOnlyRootFilesystem"] is True
    assert redis_pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_configmap_passes_serve_check(tmp_path):
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(named(render(REDIS), "ConfigMap", "swr-bridge-config")["data"]["swr-bridge.yaml"])
    result = subprocess.run([SWR_BRIDGE, "serve", "--check", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    broken = yaml.safe_load(path.read_text())
    broken["bandwidth"]["backend"] = "redis://:secret@swr-bridge-redis:6379/0"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([SWR_BRIDGE, "serve", "--check", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and "password_env" in result.stderr and "secret" not in result.stderr
