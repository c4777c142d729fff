"""endpoints / rules / executions / webhooks: listing, showing, pinging, deleting, in every output format."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.unit.cli.helpers import SECRETS, run


def _rows(*args: str) -> list[dict]:
    result = run(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_endpoints_list_and_show(applied, harbor_state):
    harbor_state.add_registry("hand-made", "https://other.example.com")
    rows = _rows("endpoints", "list", "-f", applied)
    assert [(r["name"], r["provider"], r["managed"]) for r in rows] == [("otc-eu-de", "docker-registry", True),
                                                                       ("hand-made", "docker-registry", False)]
    table = run("endpoints", "list", "-f", applied).stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "PROVIDER", "URL"] and "otc-eu-de" in table[1]
    shown = yaml.safe_load(run("endpoints", "show", "otc-eu-de", "-f", applied, "-o", "yaml").stdout)
    assert shown["access_id"] == "eu-de@AKEXAMPLE" and shown["status"] == "healthy"
    assert "secret=" not in json.dumps(shown) and SECRETS["SWR_SECRET"] not in json.dumps(shown)
    missing = run("endpoints", "show", "nope", "-f", applied)
    assert missing.exit_code == 2 and "no endpoint named 'nope'" in missing.output


def test_endpoints_ping_reports_health_by_exit_code(applied, harbor_double, harbor_state):
    ok = run("endpoints", "ping", "otc-eu-de", "-f", applied)
    assert ok.exit_code == 0 and "healthy" in ok.stdout
    assert harbor_double.last("POST", "/registries/ping").body == {"id": 1}
    harbor_state.unhealthy_urls.add("https://swr-bridge.example.com")
    bad = run("endpoints", "ping", "otc-eu-de", "-f", applied, "-o", "json")
    assert bad.exit_code == 1 and json.loads(bad.stdout) == {"name": "otc-eu-de", "healthy": False,
                                                            "message": "the registry is unhealthy",
                                                            "harbor_version": "2.15.2"}
    assert "(Harbor 2.15.2)" in ok.stdout


def test_rules_list_show_and_delete(applied, harbor_double, harbor_state):
    (row,) = _rows("rules", "list", "-f", applied)
    assert (row["name"], row["endpoint"], row["source"], row["destination"]) == (
        "library-to-swr", "otc-eu-de", "library/**", "dev-container, flatten all")
    shown = json.loads(run("rules", "show", "library-to-swr", "-f", applied, "-o", "json").stdout)
    assert shown["trigger"] == "manual" and shown["bandwidth"] == "unlimited" and shown["managed"] is True
    assert run("rules", "delete", "library-to-swr", "-f", applied).exit_code == 2  # no --yes, no terminal
    harbor_state.add_execution(1, status="InProgress")
    busy = run("rules", "delete", "library-to-swr", "-f", applied, "--yes")
    assert busy.exit_code == 1 and "412" in busy.output and 1 in harbor_state.policies
    harbor_state.executions[1]["status"] = "Succeed"
    done = run("rules", "delete", "library-to-swr", "-f", applied, "--yes")
    assert done.exit_code == 0 and not harbor_state.policies
    assert harbor_double.count("DELETE", "/replication/policies/{id}") == 2


@pytest.fixture
def history(applied, harbor_state):
    harbor_state.add_repository("library", "app", tags=["v1"])
    harbor_state.add_repository("library", "web", tags=["v1"])
    harbor_state.outcome("library/web", "Failed", "\n".join(f"line {i}" for i in range(1, 31)))
    result = run("replicate", "library-to-swr", "-f", applied, "--wait", "--interval", "0.02", "--settle", "0")
    assert result.exit_code == 1
    return applied


def test_executions_list_filters_and_names_rules(history, harbor_state):
    harbor_state.add_execution(1, status="Succeed")
    rows = _rows("executions", "list", "-f", history)
    assert [(r["id"], r["rule"], r["status"]) for r in rows] == [(2, "library-to-swr", "Succeed"),
                                                               (1, "library-to-swr", "Failed")]
    assert [r["id"] for r in _rows("executions", "list", "-f", history, "--status", "Failed")] == [1]
    assert len(_rows("executions", "list", "-f", history, "--limit", "1")) == 1
    assert run("executions", "list", "-f", history, "--rule", "ghost").exit_code == 2


def test_executions_show_with_tasks_and_logs(history):
    plain = run("executions", "show", "1", "-f", history)
    assert plain.exit_code == 0 and "status       Failed" in plain.stdout and "SRC_RESOURCE" not in plain.stdout
    tasks = run("executions", "show", "1", "--tasks", "-f", history)
    assert "SRC_RESOURCE" in tasks.stdout and "library/web [1 item(s) in total]" in tasks.stdout
    logs = json.loads(run("executions", "show", "1", "--logs", "--log-lines", "3", "-f", history, "-o", "json").stdout)
    web = next(t for t in logs["tasks"] if t["src_resource"].startswith("library/web"))
    assert web["log"] == "line 28\nline 29\nline 30" and logs["execution"]["failed"] == 1
    missing = run("executions", "show", "99", "-f", history)
    assert missing.exit_code == 1 and "replication execution 99 not found" in missing.output


def test_webhooks_list_by_file_or_project(applied, harbor_state):
    harbor_state.add_project("other")
    harbor_state.add_webhook_policy(2, "other-hook")
    (row,) = _rows("webhooks", "list", "-f", applied)
    assert (row["project"], row["name"], row["format"], row["events"], row["managed"]) == (
        "library", "swr-bridge-library", "Default", ["REPLICATION"], True)
    assert row["auth_header"] == "(sensitive)"
    assert [r["name"] for r in _rows("webhooks", "list", "-f", applied, "--project", "other")] == ["other-hook"]
    assert run("webhooks", "list", "-f", applied, "--project", "ghost").exit_code == 1
    nothing = run("webhooks", "list", "--project", "library")
    assert nothing.exit_code == 2 and "HARBOR_URL is not set" in nothing.output


def test_inventory_reads_the_connection_from_env(harbor_double, monkeypatch):
    monkeypatch.setenv("HARBOR_URL", harbor_double.url)
    monkeypatch.setenv("HARBOR_USERNAME", "admin")
    assert _rows("endpoints", "list") == [] and _rows("rules", "list") == []
    monkeypatch.setenv("HARBOR_PASSWORD", "wrong")
    assert run("rules", "list").exit_code == 3


def test_every_command_is_mounted_and_harbor_client_never_imports_adapter():
    listed = run("--help").stdout
    for name in ("plan", "apply", "replicate", "preview", "endpoints", "rules", "executions", "webhooks"):
        assert f"  {name} " in listed
    code = ("import sys, provisioning.cli, provisioning.inventory, provisioning.provision, provisioning.follow;"
            "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] == 'adapter') != [])")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
