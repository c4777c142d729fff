"""deploy/monitoring: promtool tests every alert firing and not firing; the alerts and the Grafana dashboard
query only metrics a running swr-bridge exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from adapter import create_app
from tests.unit.webhooks.helpers import SECRET_ENV, webhooks_config

MONITORING = Path(__file__).resolve().parents[3] / "deploy" / "monitoring"
RULES, RULE_TESTS, DASHBOARD = MONITORING / "alerts.yaml", MONITORING / "alerts.test.yaml", MONITORING / "dashboard.json"
# Series Prometheus makes itself, not the app.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset",
                "bool", "inf", "nan"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def promtool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:  # scripts/system-deps.sh installs it: missing is a failure
        pytest.fail("promtool is not installed (Debian package prometheus; scripts/system-deps.sh)", pytrace=False)
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, cwd=MONITORING)


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects: identifiers outside label matchers, strings, grouping
    clauses and range selectors that are not functions or keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"(?<![A-Za-z0-9_:])\d[\w.]*", " ", text)  # numbers and durations (0.95, 1e-9, 1h)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, rest = match.group(), text[match.end():].lstrip()
        if word.lower() in PROMQL_WORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


@pytest.fixture(scope="module")
def exported(tmp_path_factory, monkeypatch_module) -> set[str]:
    """Every series name the app's /metrics declares, scraped over HTTP from a running app with the webhook
    bridge (one process: every family is listed, with or without samples yet)."""
    for name, secret in SECRET_ENV.items():
        monkeypatch_module.setenv(name, secret)
    store = f"sqlite:///{tmp_path_factory.mktemp('monitoring')}/events.db"
    app = create_app({"webhooks": webhooks_config(store)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        resp = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["webhooks"].close()
    assert resp.status_code == 200
    names = set()
    for family in text_string_to_metric_families(resp.text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return {n for n in names if n.startswith("swr_bridge_")}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_rules_load_and_every_alert_passes_its_promtool_tests():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_not_firing():
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test["alert_rule_test"]:
            cases.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    names = {rule["alert"] for rule in alert_rules()}
    assert {"SwrBridgeDown", "SwrBridgeSwrErrors", "SwrBridgeBandwidthBudgetSaturated",
            "SwrBridgeWebhookIntakeRefusing", "SwrBridgeOutboxDeadLetters", "SwrBridgeDeliveriesLagging",
            "SwrBridgeLoginRefusalsSpiking"} <= names
    for name in names:
        assert cases.get(name) == {True, False}, f"{name} needs a firing and a not-firing case: {cases.get(name)}"


def test_the_dashboard_queries_are_promql_promtool_accepts(tmp_path):
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:panel_{i}", "expr": expr}
                                                        for i, expr in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_and_the_alerts_use_only_metrics_the_app_exports(exported):
    assert {"swr_bridge_relayed_bytes_total", "swr_bridge_request_duration_seconds_bucket",
            "swr_bridge_webhook_outbox_depth", "swr_bridge_login_refused_total"} <= exported
    used = {expr: metric_names(expr) for expr in dashboard_exprs() + [r["expr"] for r in alert_rules()]}
    unknown = {expr: names - exported - PROMETHEUS_OWN for expr, names in used.items() if names - exported - PROMETHEUS_OWN}
    assert not unknown, unknown
    families = {name for names in used.values() for name in names} - PROMETHEUS_OWN
    # Every family the app exports is on the dashboard (the token cache and throttle included).
    assert {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in exported} <= \
        {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in families}


def test_metric_names_reads_selectors_not_functions_or_labels():
    assert metric_names('histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{job="x", route!~"b|c"}[5m])))') \
        == {"a_bucket"}
    assert metric_names("sum(rate(a_total[5m])) / sum without (x) (b) > 3 * c offset 1h and on (job) d") \
        == {"a_total", "b", "c", "d"}
