"""Executions against the double: start (id from Location), get, list by policy, stop, tasks, task log."""

from __future__ import annotations

import pytest

from harbor_client import NotFound, PreconditionFailed


@pytest.fixture
def policy(harbor_state, relay):
    return harbor_state.add_policy("push-to-relay", dest_registry_id=relay["id"])


def test_start_returns_the_execution_id(harbor_double, harbor_state, harbor, policy):
    execution_id = harbor.executions.start(policy["id"])
    assert harbor_state.executions[execution_id]["policy_id"] == policy["id"]
    assert harbor_double.last("POST", "/replication/executions").body == {"policy_id": policy["id"]}


def test_start_a_disabled_policy_is_refused(harbor_state, harbor, relay):
    disabled = harbor_state.add_policy("off", dest_registry_id=relay["id"], enabled=False)
    with pytest.raises(PreconditionFailed, match=f"the policy {disabled['id']} is disabled"):
        harbor.executions.start(disabled["id"])


def test_get_reads_counters_and_terminal_state(harbor_state, harbor, policy):
    execution = harbor_state.add_execution(policy["id"], status="Failed", status_text="1 task failed")
    harbor_state.add_task(execution["id"], status="Succeed")
    harbor_state.add_task(execution["id"], status="Failed")
    got = harbor.executions.get(execution["id"])
    assert (got.status, got.is_terminal, got.status_text) == ("Failed", True, "1 task failed")
    assert (got.total, got.succeed, got.failed, got.in_progress, got.stopped) == (2, 1, 1, 0, 0)


def test_a_running_execution_has_zero_end_time(harbor, policy):
    got = harbor.executions.get(harbor.executions.start(policy["id"]))
    assert got.status == "InProgress" and not got.is_terminal and got.end_time.year == 1


def test_list_by_policy(harbor_double, harbor_state, harbor, policy, relay):
    other = harbor_state.add_policy("other", dest_registry_id=relay["id"])
    mine = [harbor_state.add_execution(policy["id"], status="Succeed")["id"] for _ in range(3)]
    harbor_state.add_execution(other["id"], status="Succeed")
    listed = harbor.executions.list(policy_id=policy["id"])
    assert sorted(e.id for e in listed) == mine
    assert harbor_double.last("GET", "/replication/executions").query["policy_id"] == [str(policy["id"])]
    assert [e.id for e in harbor.executions.list(status="Succeed", trigger="manual")] == [4, 3, 2, 1]


def test_stop(harbor_state, harbor, policy):
    execution_id = harbor.executions.start(policy["id"])
    harbor_state.add_task(execution_id, status="Running")
    harbor.executions.stop(execution_id)
    got = harbor.executions.get(execution_id)
    assert got.status == "Stopped" and got.stopped == 1
    assert [t.status for t in harbor.executions.tasks(execution_id)] == ["Stopped"]


def test_tasks_and_their_filters(harbor_state, harbor, policy):
    execution = harbor_state.add_execution(policy["id"])
    done = harbor_state.add_task(execution["id"], status="Succeed", src_resource="library/a [1 item(s) in total]")
    harbor_state.add_task(execution["id"], status="Running", resource_type="image")
    tasks = list(harbor.executions.tasks(execution["id"]))
    assert [t.id for t in tasks] == [done["id"], done["id"] + 1]
    assert tasks[0].src_resource == "library/a [1 item(s) in total]" and tasks[0].operation == "copy"
    assert [t.status for t in harbor.executions.tasks(execution["id"], status="InProgress")] == ["Running"]
    assert [t.resource_type for t in harbor.executions.tasks(execution["id"], resource_type="image")] == ["image"]


def test_task_log_is_plain_text(harbor_double, harbor_state, harbor, policy):
    execution = harbor_state.add_execution(policy["id"])
    task = harbor_state.add_task(execution["id"], log="2024-05-01T10:00:00Z [INFO] copying library/a:1\n")
    assert harbor.executions.task_log(execution["id"], task["id"]) == "2024-05-01T10:00:00Z [INFO] copying library/a:1\n"
    assert harbor_double.last("GET", "/replication/executions/{id}/tasks/{task_id}/log").headers["Accept"] == "text/plain"


def test_task_of_another_execution_is_not_found(harbor_state, harbor, policy):
    first, second = (harbor_state.add_execution(policy["id"]) for _ in range(2))
    task = harbor_state.add_task(first["id"])
    with pytest.raises(NotFound):
        harbor.executions.task_log(second["id"], task["id"])
    with pytest.raises(NotFound):
        list(harbor.executions.tasks(99))
