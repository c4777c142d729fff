"""preview: matched repositories, where each lands with Harbor's flattening, collisions and SWR naming."""

from __future__ import annotations

import json

import pytest

from tests.unit.cli.helpers import run


def _preview(path: str, *extra: str) -> tuple[int, dict]:
    result = run("preview", "-f", path, "-o", "json", *extra)
    return result.exit_code, json.loads(result.stdout)


def _landing(report: dict, source: str) -> dict:
    return next(item for item in report["landings"] if item["source"] == source)


@pytest.fixture
def repos(harbor_state):
    harbor_state.add_repository("library", "app", tags=["v1", "v2"])
    harbor_state.add_repository("library", "team/api", tags=["v1", "dev"], labels=["release"])
    harbor_state.add_repository("library", "team/web", tags=["dev"], untagged=1)


def test_a_clean_rule_shows_each_landing_and_exits_0(document, write, repos, harbor_double):
    document["rules"][0]["destination"] = {"namespace": "dev-container", "flatten": "none"}
    code, report = _preview(write(document))
    assert code == 0, report
    assert [(i["source"], i["destination"], i["artifacts"]) for i in report["landings"]] == [
        ("library/app", "dev-container/library/app", 2), ("library/team/api", "dev-container/library/team/api", 2),
        ("library/team/web", "dev-container/library/team/web", 2)]
    assert report["problems"] == 0
    assert harbor_double.writes() == 0


def test_flatten_all_collisions_are_flagged_and_exit_1(document, write, repos, harbor_state):
    harbor_state.add_repository("library", "other/app", tags=["v1"])
    path = write(document)
    result = run("preview", "-f", path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RULE", "SOURCE", "DESTINATION", "ARTIFACTS", "PROBLEMS"]
    app = next(line for line in lines if line.split()[1] == "library/app")
    assert "dev-container/app" in app and "collision: dev-container/app also receives library/other/app" in app
    assert "2 problem(s)" in lines[-1]


def test_collisions_across_rules_to_one_endpoint_are_flagged(document, write, repos):
    second = {**document["rules"][0], "name": "api-only",
              "source": {"project": "library", "repositories": "team/api"},
              "destination": {"namespace": "dev-container/team", "flatten": "1"}}
    document["rules"][0]["source"]["repositories"] = "team/*"
    document["rules"][0]["destination"] = {"namespace": "dev-container/team", "flatten": "1"}
    document["rules"].append(second)
    code, report = _preview(write(document))
    assert code == 1
    api = [i for i in report["landings"] if i["source"] == "library/team/api"]
    assert {i["rule"] for i in api} == {"library-to-swr", "api-only"}
    assert all(i["destination"] == "dev-container/team/team/api" for i in api)
    assert all(any("collision" in p for p in i["problems"]) for i in api)
    assert not _landing(report, "library/team/web")["problems"]


def test_swr_naming_violations_are_flagged(document, write, repos):
    document["rules"][0]["destination"] = {"namespace": "", "flatten": "all"}  # lands in the org "library"
    code, report = _preview(write(document))
    assert code == 1
    problems = _landing(report, "library/app")["problems"]
    assert any("naming:" in p and "organization.reserved" in p for p in problems)


def test_a_flattening_harbor_would_refuse_is_flagged(document, write, repos):
    document["rules"][0]["destination"]["flatten"] = 2
    code, report = _preview(write(document))
    assert code == 1
    app = _landing(report, "library/app")
    assert app["destination"] is None and "flattening level is 2" in app["problems"][0]
    assert _landing(report, "library/team/api")["destination"] == "dev-container/api"


def test_tag_and_label_filters_narrow_through_the_artifacts(document, write, repos, harbor_double):
    document["rules"][0]["source"] = {"project": "library", "repositories": "team/**", "tags": "v*",
                                      "labels": ["release"]}
    code, report = _preview(write(document))
    assert code == 0
    assert [(i["source"], i["artifacts"]) for i in report["landings"]] == [("library/team/api", 1)]
    # Nested names reach Harbor encoded twice (the double has no route for a single encoding).
    paths = [r.path for r in harbor_double.calls("GET")
             if r.route == "/projects/{project_name}/repositories/{repository_name}/artifacts"]
    assert "/api/v2.0/projects/library/repositories/team%2Fapi/artifacts" in paths


def test_untagged_artifacts_match_an_empty_tag(document, write, repos):
    document["rules"][0]["source"] = {"project": "library", "repositories": "team/web", "tags": "{dev,}"}
    code, report = _preview(write(document))
    assert code == 0 and report["landings"][0]["artifacts"] == 2


def test_one_rule_by_name_and_a_rule_matching_nothing(document, write, repos):
    document["rules"].append({**document["rules"][0], "name": "nothing",
                              "source": {"project": "library", "repositories": "nope/**"}})
    path = write(document)
    result = run("preview", "-f", path, "nothing")
    assert result.exit_code == 0 and "rule nothing matches no repository" in result.stdout
    assert run("preview", "-f", path, "missing").exit_code == 2


def test_a_missing_project_and_a_bad_pattern_are_problems(document, write, repos):
    document["rules"][0]["source"]["project"] = "ghost"
    code, report = _preview(write(document))
    assert code == 1 and report["landings"][0]["problems"] == ["project ghost not found in Harbor"]
    document["rules"][0]["source"] = {"project": "library", "repositories": "{app"}
    code, report = _preview(write(document))
    assert code == 1 and "'{' is never closed" in report["landings"][0]["problems"][0]


def test_the_endpoints_own_mapping_applies_after_harbors(document, write, repos, tmp_path):
    document["rules"][0]["destination"] = {"namespace": "staging", "flatten": "none"}
    config = tmp_path / "swr-bridge.yaml"
    config.write_text("mapping:\n  - {match: 'staging/library/team/**', namespace: teams, flatten: all}\n")
    code, report = _preview(write(document), "--endpoint-config", str(config))
    assert code == 0
    assert _landing(report, "library/team/api")["destination"] == "teams/api"
    assert _landing(report, "library/app")["destination"] == "staging/library/app"
    config.write_text("mapping: [{match: 'x'}]\n")
    result = run("preview", "-f", write(document), "--endpoint-config", str(config))
    assert result.exit_code == 2 and "mapping.0.namespace" in result.output
