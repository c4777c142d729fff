"""replicate [--wait] [--retry-failed] against executions that progress, with Harbor's status lag compressed."""

from __future__ import annotations

import json

import pytest

from provisioning.rerun import name_pattern
from tests.unit.cli.helpers import run

FAST = ("--interval", "0.02", "--settle", "0", "--progress", "lines")


@pytest.fixture
def repos(harbor_state):
    harbor_state.add_repository("library", "app", tags=["v1", "v2"])
    harbor_state.add_repository("library", "team/api", tags=["v1"])
    harbor_state.add_repository("library", "team/web", tags=["v3"])


def _replicate(path: str, *extra: str):
    return run("replicate", "library-to-swr", "-f", path, "--wait", *FAST, *extra)


def test_success_waits_for_the_lagging_status_and_exits_0(applied, repos, harbor_double, harbor_state):
    result = _replicate(applied, "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "succeeded" and report["execution"]["status"] == "Succeed"
    assert report["counts"] == {"total": 3, "succeed": 3, "failed": 0, "stopped": 0, "running": 0}
    # All tasks were done well before the execution turned final: the follower kept polling through the lag.
    lines = result.stderr.splitlines()
    all_done = lines.index(next(line for line in lines if "InProgress: 3/3 done" in line))
    assert any("Succeed: 3/3 done" in line for line in lines[all_done + 1:])
    assert {t["dst_resource"] for t in report["tasks"]} == {
        "dev-container/app [2 item(s) in total]", "dev-container/api [1 item(s) in total]",
        "dev-container/web [1 item(s) in total]"}
    assert harbor_double.count("POST", "/replication/executions") == 1


def test_a_failed_task_exits_1_with_its_log_tail(applied, repos, harbor_state):
    harbor_state.outcome("library/team/api", "Failed", "step 1\nstep 2\nstep 3\npush failed: 502 Bad Gateway")
    result = _replicate(applied, "--log-lines", "2")
    assert result.exit_code == 1
    assert "execution 1 of rule library-to-swr: Failed (failed)" in result.stdout
    assert "failed task" in result.stdout and "library/team/api -> dev-container/api" in result.stdout
    assert "  | step 3\n  | push failed: 502 Bad Gateway" in result.stdout and "step 2" not in result.stdout
    assert "library/app -> dev-container/app: Succeed" in result.stderr


def test_a_timeout_exits_non_zero_and_leaves_the_execution_running(applied, repos, harbor_state):
    harbor_state.duration = 30.0
    result = _replicate(applied, "--timeout", "0.3")
    assert result.exit_code == 1
    assert "execution 1 is not final after 0.3s" in result.output
    assert "(timeout)" in result.stdout
    assert harbor_state.executions[1]["status"] == "InProgress"


def test_a_transient_failed_status_is_not_taken_for_the_verdict(applied, repos, harbor_state):
    # harbor#14986: between retries a task reads Failed and so does the execution, then it succeeds.
    harbor_state.add_repository("library", "flaky", tags=["v1"])
    harbor_state.flaky.add("library/flaky")
    harbor_state.duration, harbor_state.stagger = 0.3, 0.0
    hasty = run("replicate", "library-to-swr", "-f", applied, "--wait", "--interval", "0.02", "--settle", "0")
    assert hasty.exit_code == 1  # with no settle time the transient verdict is believed...
    patient = _replicate(applied, "--settle", "0.5")
    assert patient.exit_code == 0, patient.output  # ...a failure that must hold 0.5 s is not
    assert "Succeed (succeeded)" in patient.stdout


def test_without_wait_it_starts_and_returns(applied, repos, harbor_double):
    result = run("replicate", "library-to-swr", "-f", applied)
    assert result.exit_code == 0 and result.stdout.strip() == "1"
    assert "started execution 1 of rule library-to-swr" in result.stderr
    assert harbor_double.count("GET", "/replication/executions/{id}") == 0


def test_the_progress_bar_redraws_one_line(applied, repos):
    bar = run("replicate", "library-to-swr", "-f", applied, "--wait", "--interval", "0.02", "--settle", "0",
              "--progress", "bar")
    assert bar.exit_code == 0
    assert "\r[" in bar.stderr and "3 done, 0 failed, 3 total" in bar.stderr and "00:0" in bar.stderr
    lines = _replicate(applied)
    assert "\r" not in lines.stderr and "task 4 library/app" in lines.stderr


def test_retry_failed_reruns_only_the_failed_repositories(applied, repos, harbor_double, harbor_state):
    harbor_state.outcome("library/team/api", "Failed", "blob upload timed out")
    harbor_state.outcome("library/app", "Failed", "manifest invalid")
    assert _replicate(applied).exit_code == 1
    result = run("replicate", "library-to-swr", "-f", applied, "--retry-failed", *FAST)
    assert result.exit_code == 0, result.output
    created = harbor_double.last("POST", "/replication/policies").body
    assert created["name"] == "library-to-swr-retry-1" and created["trigger"] == {"type": "manual"}
    assert created["filters"][0] == {"type": "name", "value": "library/{app,team/api}"}
    assert created["dest_namespace"] == "dev-container" and created["deletion"] is False
    retried = [t for t in harbor_state.tasks.values() if t["execution_id"] == 2]
    assert sorted(t["src_resource"] for t in retried) == ["library/app [2 item(s) in total]",
                                                          "library/team/api [1 item(s) in total]"]
    assert "retrying 2 failed repositories of execution 1" in result.stderr
    assert [p["name"] for p in harbor_state.policies.values()] == ["library-to-swr"]  # the copy is gone


def test_retry_failed_with_nothing_failed_writes_nothing(applied, repos, harbor_double):
    assert _replicate(applied).exit_code == 0
    before = harbor_double.writes()
    result = run("replicate", "library-to-swr", "-f", applied, "--retry-failed")
    assert result.exit_code == 0 and "nothing to retry" in result.output
    assert harbor_double.writes() == before


def test_retry_failed_that_times_out_keeps_the_copy_and_says_so(applied, repos, harbor_state):
    harbor_state.outcome("library/app", "Failed", "boom")
    assert _replicate(applied).exit_code == 1
    harbor_state.duration = 30.0
    result = run("replicate", "library-to-swr", "-f", applied, "--retry-failed", *FAST, "--timeout", "0.2")
    assert result.exit_code == 1
    assert "warning: the temporary rule library-to-swr-retry-1 stays in Harbor" in result.stderr
    assert "library-to-swr-retry-1" in [p["name"] for p in harbor_state.policies.values()]


def test_an_execution_that_fails_before_any_task_exits_1_with_harbors_reason(document, write, repos,
                                                                            harbor_state):
    document["rules"][0]["destination"]["flatten"] = 3  # library/app has one path component, not three
    path = write(document)
    assert run("apply", "-f", path, "--yes").exit_code == 0
    result = _replicate(path)
    assert result.exit_code == 1
    assert "Failed (failed); tasks: 0 total" in result.stdout
    assert "the destination namespace flattening level is 3" in result.stdout


@pytest.mark.parametrize(("setup", "code", "message"), [
    ("not-in-file", 2, "no rule named 'other'"),
    ("not-in-harbor", 2, "Harbor has no rule named 'library-to-swr'"),
    ("disabled", 1, "the policy 1 is disabled"),
])
def test_rule_problems(bridge, harbor_double, harbor_state, setup, code, message):
    rule = "other" if setup == "not-in-file" else "library-to-swr"
    if setup == "disabled":
        assert run("apply", "-f", bridge, "--yes").exit_code == 0
        harbor_state.policies[1]["enabled"] = False
    result = run("replicate", rule, "-f", bridge, "--wait")
    assert result.exit_code == code and message in result.output


def test_the_name_pattern_matches_exactly_the_failed_repositories():
    from adapter.swr.glob import glob_match

    assert name_pattern(["library/app"]) == "library/app"
    pattern = name_pattern(["library/app", "library/team/api"])
    assert pattern == "library/{app,team/api}"
    assert [r for r in ("library/app", "library/team/api", "library/team", "library/apps", "other/app")
            if glob_match(pattern, r)] == ["library/app", "library/team/api"]
    mixed = name_pattern(["a/x", "b/y"])
    assert mixed == "{a/x,b/y}" and glob_match(mixed, "b/y") and not glob_match(mixed, "a/y")
