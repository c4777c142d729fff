"""plan and apply against the double over HTTP: diffs, secrets, idempotency, prune, partial failures, exit codes."""

from __future__ import annotations

import json

import pytest
import requests
import yaml

from harbor_client import HarborVersion, parse_version
from provisioning import marker
from tests.doubles.harbor import ADMIN
from tests.unit.cli.helpers import SECRETS, run


def _plan(path: str, *extra: str) -> dict:
    result = run("plan", "-f", path, "-o", "json", *extra)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _actions(plan: dict) -> dict[tuple[str, str], str]:
    return {(c["kind"], c["name"]): c["action"] for c in plan["changes"]}


def test_plan_on_an_empty_harbor_creates_everything_and_writes_nothing(bridge, harbor_double):
    result = run("plan", "-f", bridge)
    assert result.exit_code == 0, result.output
    assert "+ endpoint otc-eu-de (create)" in result.output
    assert "+ rule library-to-swr (create)" in result.output
    assert "+ webhook swr-bridge-library in project library (create)" in result.output
    assert "access_secret: (sensitive)" in result.output and "auth_header: (sensitive)" in result.output
    assert "3 to create, 0 to update" in result.output
    assert SECRETS["SWR_SECRET"] not in result.output and SECRETS["BRIDGE_WEBHOOK_TOKEN"] not in result.output
    assert harbor_double.writes() == 0


def test_apply_creates_in_order_with_harbors_fields(bridge, harbor_double, harbor_state):
    result = run("apply", "-f", bridge, "--yes")
    assert result.exit_code == 0, result.output
    writes = [(r.method, r.route) for r in harbor_double.requests if r.method != "GET"]
    assert writes == [("POST", "/registries"), ("POST", "/replication/policies"),
                      ("POST", "/projects/{project_name_or_id}/webhook/policies")]
    (registry,) = harbor_state.registries.values()
    assert registry["credential"]["access_secret"] == SECRETS["SWR_SECRET"]
    description, managed, stored = marker.split(registry["description"])
    assert managed and marker.matches(stored, SECRETS["SWR_SECRET"]) and SECRETS["SWR_SECRET"] not in description
    (policy,) = harbor_state.policies.values()
    assert policy["filters"] == [{"type": "name", "value": "library/**"}]
    assert (policy["dest_namespace"], policy["dest_namespace_replace_count"], policy["speed"]) == ("dev-container", -1, 0)
    assert policy["dest_registry_id"] == registry["id"] and policy["enabled"] and policy["override"]
    body = harbor_double.last("POST", "/replication/policies").body
    assert body["deletion"] is False and "speed" not in body and "dest_namespace_replace_count" not in body
    (hook,) = harbor_state.webhook_policies.values()
    assert hook["enabled"] is True and hook["targets"][0]["auth_header"] == SECRETS["BRIDGE_WEBHOOK_TOKEN"]


def test_a_second_apply_makes_no_writes(applied, harbor_double):
    before = harbor_double.writes()
    result = run("apply", "-f", applied, "--yes")
    assert result.exit_code == 0, result.output
    assert harbor_double.writes() == before
    assert "Nothing to do: Harbor matches" in result.output
    assert set(_actions(_plan(applied)).values()) == {"unchanged"}


def test_a_rotated_secret_is_found_through_the_fingerprint(applied, harbor_double, harbor_state, monkeypatch):
    monkeypatch.setenv("SWR_SECRET", "sk-rotated-9876543210")
    plan = _plan(applied)
    (endpoint,) = [c for c in plan["changes"] if c["kind"] == "endpoint"]
    assert endpoint["action"] == "update"
    assert endpoint["changes"] == {"access_secret": {"from": "(sensitive)", "to": "(sensitive)"}}
    assert run("apply", "-f", applied, "--yes").exit_code == 0
    sent = harbor_double.last("PUT", "/registries/{id}").body
    assert sent["access_secret"] == "sk-rotated-9876543210"
    (registry,) = harbor_state.registries.values()
    assert marker.matches(marker.split(registry["description"])[2], "sk-rotated-9876543210")
    assert _actions(_plan(applied))[("endpoint", "otc-eu-de")] == "unchanged"


def test_an_update_names_the_changed_fields_in_the_files_words(applied, document, write, harbor_double,
                                                               harbor_state):
    document["rules"][0]["destination"]["flatten"] = 1
    document["rules"][0]["bandwidth"] = "10MiB/s"
    document["rules"][0]["source"]["tags"] = "v*"
    path = write(document)
    result = run("plan", "-f", path)
    assert "~ rule library-to-swr (update)" in result.output
    assert "destination.flatten: all -> 1" in result.output and "bandwidth: unlimited -> 10MiB/s" in result.output
    assert "source.tags: ** -> v*" in result.output
    assert "= endpoint otc-eu-de (unchanged)" in result.output
    before = harbor_double.writes()
    assert run("apply", "-f", path, "--yes").exit_code == 0
    assert harbor_double.writes() == before + 1
    (policy,) = harbor_state.policies.values()
    assert (policy["dest_namespace_replace_count"], policy["speed"]) == (1, 81920)
    assert {"type": "tag", "value": "v*", "decoration": "matches"} in policy["filters"]


def test_unmarked_objects_are_adopted_and_the_secret_is_set(bridge, harbor_double, harbor_state):
    harbor_state.add_registry("otc-eu-de", "https://swr-bridge.example.com", access_key="eu-de@AKEXAMPLE",
                              access_secret="unknown")
    changes = {c["name"]: c for c in _plan(bridge)["changes"]}
    assert changes["otc-eu-de"]["action"] == "update"
    assert set(changes["otc-eu-de"]["changes"]) == {"managed", "access_secret"}
    assert run("apply", "-f", bridge, "--yes").exit_code == 0
    assert harbor_state.registries[1]["credential"]["access_secret"] == SECRETS["SWR_SECRET"]
    assert len(harbor_state.registries) == 1


def test_a_provider_change_is_a_conflict_and_nothing_is_written(applied, document, write, harbor_double):
    document["endpoints"][0]["provider"] = "huawei-SWR"
    path = write(document)
    planned = run("plan", "-f", path)
    assert planned.exit_code == 1 and "! endpoint otc-eu-de (conflict): Harbor cannot change" in planned.output
    before = harbor_double.writes()
    result = run("apply", "-f", path, "--yes")
    assert result.exit_code == 1 and "nothing was changed" in result.output
    assert harbor_double.writes() == before


def test_prune_deletes_only_marked_objects_the_file_dropped(applied, document, write, harbor_double,
                                                            harbor_state):
    foreign = harbor_state.add_registry("hand-made", "https://other.example.com")
    harbor_state.add_policy("hand-made-rule", dest_registry_id=foreign["id"])
    harbor_state.add_webhook_policy(1, "hand-made-hook")
    document["rules"], document["webhooks"] = [], []
    path = write(document)
    plan = _plan(path, "--prune")
    assert _actions(plan) == {("endpoint", "otc-eu-de"): "unchanged", ("webhook", "swr-bridge-library"): "would prune",
                              ("rule", "library-to-swr"): "would prune"}
    assert set(_actions(_plan(path)).values()) == {"unchanged"}  # without --prune nothing goes
    result = run("apply", "-f", path, "--yes", "--prune")
    assert result.exit_code == 0, result.output
    deletes = [r.route for r in harbor_double.requests if r.method == "DELETE"]
    assert deletes == ["/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}",
                       "/replication/policies/{id}"]
    assert [p["name"] for p in harbor_state.policies.values()] == ["hand-made-rule"]
    assert [w["name"] for w in harbor_state.webhook_policies.values()] == ["hand-made-hook"]


def test_a_failure_midway_reports_what_was_and_was_not_done(bridge, harbor_double, harbor_state):
    harbor_double.fail("POST", "/replication/policies", 500)
    result = run("apply", "-f", bridge, "--yes", "-o", "yaml")
    assert result.exit_code == 1
    report = yaml.safe_load(result.stdout)
    assert [c["name"] for c in report["done"]] == ["otc-eu-de"]
    assert report["failed"]["name"] == "library-to-swr" and "500" in report["failed"]["error"]
    assert [c["name"] for c in report["not_done"]] == ["swr-bridge-library"]
    assert "apply stopped at rule library-to-swr" in result.output
    assert len(harbor_state.registries) == 1 and not harbor_state.webhook_policies
    again = run("apply", "-f", bridge, "--yes")  # the rerun finishes the job
    assert again.exit_code == 0 and "done: + rule library-to-swr" in again.output


def test_apply_without_yes_needs_a_terminal(bridge, harbor_double):
    result = run("apply", "-f", bridge)
    assert result.exit_code == 2 and "--yes" in result.output
    assert harbor_double.writes() == 0


def test_apply_on_a_terminal_shows_the_plan_and_asks(bridge, harbor_double, monkeypatch):
    monkeypatch.setattr("provisioning.cli.stdin_is_terminal", lambda: True)
    declined = run("apply", "-f", bridge, input="n\n")
    assert declined.exit_code == 1 and "Apply 3 change(s) to Harbor?" in declined.output
    assert "+ rule library-to-swr (create)" in declined.stderr
    assert harbor_double.writes() == 0
    accepted = run("apply", "-f", bridge, input="y\n")
    assert accepted.exit_code == 0 and harbor_double.writes() == 3


def test_a_harbor_too_old_for_a_field_is_a_config_error(document, write, harbor_double, harbor_state):
    harbor_state.harbor_version = "v2.3.4-abcdef01"
    document["rules"][0]["bandwidth"] = "10MiB/s"  # speed arrived in Harbor 2.4
    result = run("apply", "-f", write(document), "--yes")
    assert result.exit_code == 2 and "speed needs Harbor 2.4.0 or newer" in result.output
    assert not harbor_state.policies


def test_unreachable_harbor_and_refused_credentials_exit_3(document, write, monkeypatch, harbor_double):
    monkeypatch.setenv("HARBOR_PASSWORD", "wrong")
    result = run("plan", "-f", write(document))
    assert result.exit_code == 3 and "401" in result.output
    document["harbor"]["url"] = "http://127.0.0.1:9"
    result = run("plan", "-f", write(document))
    assert result.exit_code == 3 and "Harbor unreachable" in result.output


def test_without_a_harbor_section_the_env_is_used(document, write, monkeypatch, harbor_double):
    del document["harbor"]
    path = write(document)
    result = run("plan", "-f", path)
    assert result.exit_code == 2 and "HARBOR_URL is not set" in result.output
    monkeypatch.setenv("HARBOR_URL", harbor_double.url)
    monkeypatch.setenv("HARBOR_USERNAME", "admin")
    result = run("plan", "-f", path)
    assert result.exit_code == 0 and "3 to create" in result.output
    assert harbor_double.requests[0].headers["Authorization"].startswith("Basic ")


def test_webhooks_in_a_missing_project_are_a_conflict(document, write, harbor_double):
    document["webhooks"][0]["project"] = "ghost"
    result = run("plan", "-f", write(document))
    assert result.exit_code == 1 and "project ghost not found" in result.output


def test_plan_shows_harbors_version_and_apply_says_what_happens_to_id_less_webhooks(bridge, harbor_double,
                                                                                  harbor_state):
    harbor_state.harbor_version = "v2.10.1-0a1b2c3d"
    planned = run("plan", "-f", bridge)
    assert planned.exit_code == 0 and planned.stdout.splitlines()[0] == "Harbor 2.10.1"
    assert _plan(bridge)["harbor_version"] == "2.10.1"
    applied = run("apply", "-f", bridge, "--yes")
    assert applied.exit_code == 0, applied.output
    (note,) = [line for line in applied.stderr.splitlines() if "without execution or task ids" in line]
    assert note.startswith("Harbor 2.10.1 sends REPLICATION webhooks") and "Harbor's API" in note


def test_apply_on_harbor_2_13_says_nothing_about_ids(bridge, harbor_double, harbor_state):
    harbor_state.harbor_version = "v2.13.0-0a1b2c3d"
    applied = run("apply", "-f", bridge, "--yes")
    assert applied.exit_code == 0 and "without execution or task ids" not in applied.output


# Each release boundary of harbor.md §0, with every gated feature that release has set in the file.
GATED = {"dest_namespace_replace_count": HarborVersion(2, 3), "speed": HarborVersion(2, 4),
         "copy_by_chunk": HarborVersion(2, 7), "single_active_replication": HarborVersion(2, 14)}
RELEASES = [("v2.2.3-aaaaaaaa", {}),
            ("v2.3.0-aaaaaaaa", {"flatten": "1"}),
            ("v2.7.0-aaaaaaaa", {"flatten": "1", "bandwidth": "10MiB/s", "copy_by_chunk": True}),
            ("v2.8.0-aaaaaaaa", {"flatten": "1", "bandwidth": "10MiB/s", "copy_by_chunk": True, "format": "CloudEvents"}),
            ("v2.14.0-aaaaaaaa", {"flatten": "none", "bandwidth": "10MiB/s", "copy_by_chunk": True,
                                  "single_active_replication": True, "format": "CloudEvents"})]


@pytest.mark.parametrize(("version", "features"), RELEASES, ids=[v.split("-")[0] for v, _ in RELEASES])
def test_an_applied_file_plans_clean_on_every_release(document, write, harbor_double, harbor_state, version, features):
    # The double answers as that release does: fields it has not got are absent from every GET, not zero.
    harbor_state.harbor_version = version
    rule, hook = document["rules"][0], document["webhooks"][0]
    for key, value in features.items():
        if key == "flatten":
            rule["destination"]["flatten"] = value
        elif key == "format":
            hook["format"] = value
        else:
            rule[key] = value
    path = write(document)
    assert run("apply", "-f", path, "--yes").exit_code == 0
    before = harbor_double.writes()
    plan = _plan(path)
    assert plan["summary"]["create"] == plan["summary"]["update"] == 0, plan["changes"]
    assert harbor_double.writes() == before
    (policy,) = requests.get(f"{harbor_double.url}/api/v2.0/replication/policies", auth=ADMIN, timeout=10).json()
    absent = {"dest_namespace_replace_count", "speed", "copy_by_chunk", "single_active_replication"} - set(policy)
    assert absent == {name for name, since in GATED.items() if parse_version(version) < since}
