"""deploy/: the kustomize base and the postgres overlay, rendered here and validated offline against
the JSON schemas of a current Kubernetes release (kubernetes-validate), then checked for what the
operator relies on: probes on the app's routes, a read-only root, the Secret wiring of every *_env
key, and configs that `swr-bridge serve --check` accepts."""

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from packaging.version import Version

from adapter import create_app
from tests.integration.endpoint import SWR_BRIDGE
from tests.unit.ops.kustomize import KustomizeError, load_all, render

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
BASE, OVERLAY = DEPLOY / "base", DEPLOY / "overlays" / "postgres"
K8S = kubernetes_validate.utils.latest_version()
SECRET_TEMPLATE = BASE / "secret.template.yaml"


def by_kind(objects) -> dict:
    return {o["kind"]: o for o in objects}


def config_of(objects) -> dict:
    return yaml.safe_load(by_kind(objects)["ConfigMap"]["data"]["swr-bridge.yaml"])


def container(objects) -> dict:
    [c] = by_kind(objects)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


def container_named(objects, deployment: str) -> dict:
    [c] = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment)[
        "spec"]["template"]["spec"]["containers"]
    return c


def env_names(config, path="") -> set[str]:
    """Every environment variable a config names: *_env keys (strings or lists) and their defaults."""
    found = set()
    if isinstance(config, dict):
        for key, value in config.items():
            if key.endswith("_env") and isinstance(value, str):
                found.add(value)
            elif key.endswith("_env") and isinstance(value, list):
                found.update(value)
            else:
                found |= env_names(value)
    elif isinstance(config, list):
        for item in config:
            found |= env_names(item)
    return found


@pytest.fixture(scope="module", params=["base", "postgres"])
def rendered(request):
    return render(BASE if request.param == "base" else OVERLAY)


def test_a_current_kubernetes_schema_is_used():
    assert Version(K8S) >= Version("1.33")


def test_the_base_has_every_resource_the_issue_asks_for():
    kinds = sorted(o["kind"] for o in render(BASE))
    assert kinds == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


def test_every_object_validates_strictly(rendered):
    for obj in rendered + load_all(SECRET_TEMPLATE):
        kubernetes_validate.validate(obj, K8S, strict=True)


def test_the_validator_catches_a_mistake():
    deployment = by_kind(render(BASE))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S, strict=True)


def test_probes_hit_the_apps_health_routes(rendered):
    c = container(rendered)
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in port_names
    assert port_names["http"] == 8080
    routes = {rule.rule for rule in create_app({}).url_map.iter_rules()}
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    template = by_kind(rendered)["Deployment"]["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_a_read_only_non_root_container_with_resources(rendered):
    pod = by_kind(rendered)["Deployment"]["spec"]["template"]["spec"]
    c = container(rendered)
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert "memory" in c["resources"]["limits"]
    # The only writable places: /tmp for the budget and metrics files, nothing else.
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/etc/swr-bridge"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert volumes[mounts["/etc/swr-bridge"]["name"]]["configMap"]["name"] == by_kind(rendered)["ConfigMap"][
        "metadata"]["name"]


def test_uploads_get_their_graceful_shutdown(rendered):
    pod = by_kind(rendered)["Deployment"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in container(rendered)["env"]}
    assert pod["terminationGracePeriodSeconds"] > int(env["SWR_BRIDGE_GRACEFUL_TIMEOUT"]) + 5
    assert by_kind(rendered)["Deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_service_pdb_and_hpa_point_at_the_deployment(rendered):
    objs = by_kind(rendered)
    pod_labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert objs["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert objs["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert objs["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": objs["Deployment"]["metadata"]["name"]}
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["minReplicas"] >= 2  # with a PDB of minAvailable 1, a drain never takes the last pod
    assert objs["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa["minReplicas"]


def test_every_env_the_config_names_comes_from_the_secret_template(rendered):
    config = config_of(rendered)
    needed = env_names(config) | {config.get("instance_key_env", "SWR_BRIDGE_KEY")}
    env = {e["name"]: e for e in container(rendered)["env"]}
    [secret] = load_all(SECRET_TEMPLATE)
    for name in needed:
        assert name in env, f"{name} is not set in the Deployment"
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"], f"{ref['key']} missing from the Secret template"
    # and the Secret template carries nothing a config of ours does not use
    used = {e["valueFrom"]["secretKeyRef"]["key"] for overlay in (OVERLAY, DEPLOY / "overlays" / "redis-budget")
            for e in container_named(render(overlay), "swr-bridge")["env"] if "valueFrom" in e}
    assert used == set(secret["stringData"])


@pytest.mark.parametrize("where", [BASE, OVERLAY])
def test_the_configmap_passes_serve_check(where, tmp_path):
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(by_kind(render(where))["ConfigMap"]["data"]["swr-bridge.yaml"])
    result = subprocess.run([SWR_BRIDGE, "serve", "--check", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


def test_serve_check_would_catch_a_broken_configmap(tmp_path):
    config = config_of(render(BASE))
    config["bandwidth"]["limit"] = "50MiB"
    path = tmp_path / "swr-bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([SWR_BRIDGE, "serve", "--check", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and "bandwidth.limit" in result.stderr


def test_the_overlay_puts_the_webhook_store_on_postgresql():
    base, overlay = render(BASE), render(OVERLAY)
    config = config_of(overlay)
    assert config["webhooks"]["store"].startswith("postgresql://")
    assert config["webhooks"]["store_password_env"] in {e["name"] for e in container(overlay)["env"]}
    assert "webhooks" not in config_of(base)
    # Everything else is the base's config, so the two cannot drift apart unnoticed.
    assert {k: v for k, v in config.items() if k not in ("webhooks", "api")} == config_of(base)
    # The patch added env; the base's env and everything else in the Deployment are kept.
    assert {e["name"] for e in container(base)["env"]} < {e["name"] for e in container(overlay)["env"]}
    assert container(overlay)["readinessProbe"] == container(base)["readinessProbe"]
    assert len(overlay) == len(base)


def test_the_image_default_config_passes_serve_check():
    result = subprocess.run([SWR_BRIDGE, "serve", "--check", "--config", str(DEPLOY / "swr-bridge.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_renderer_refuses_what_it_does_not_render(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [], "namePrefix": "x-"}))
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": [str(BASE)], "patches": [{"patch": "kind: Deployment\nmetadata: {name: nope}\n"}]}))
    with pytest.raises(KustomizeError, match="not found"):
        render(tmp_path)
