"""The double's extensions for the CLI: repository and artifact listing, and executions that run on a clock."""

from __future__ import annotations

import requests

from tests.doubles.harbor import ADMIN, HarborDouble
from tests.doubles.harbor.flow import ReplicatingHarborState


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _get(double: HarborDouble, path: str, **params):
    return requests.get(double.url + "/api/v2.0" + path, params=params, auth=ADMIN, timeout=5)


def test_repositories_are_listed_per_project_with_pages(harbor_double, harbor_state):
    for name in ("a", "b", "c"):
        harbor_state.add_repository("library", name)
    harbor_state.add_project("other")
    harbor_state.add_repository("other", "x")
    page = _get(harbor_double, "/projects/library/repositories", page_size=2)
    assert [r["name"] for r in page.json()] == ["library/a", "library/b"]
    assert page.headers["X-Total-Count"] == "3" and 'rel="next"' in page.headers["Link"]
    assert _get(harbor_double, "/projects/ghost/repositories").status_code == 404


def test_nested_repository_names_must_be_encoded_twice(harbor_double, harbor_state):
    harbor_state.add_repository("library", "team/api", tags=["v1", "v2"], labels=["release"])
    good = _get(harbor_double, "/projects/library/repositories/team%252Fapi/artifacts", with_label="true")
    assert good.status_code == 200
    assert [[t["name"] for t in a["tags"]] for a in good.json()] == [["v1"], ["v2"]]
    assert good.json()[0]["labels"][0]["name"] == "release"
    assert "labels" not in _get(harbor_double, "/projects/library/repositories/team%252Fapi/artifacts").json()[0]
    once = _get(harbor_double, "/projects/library/repositories/team%2Fapi/artifacts")
    assert once.status_code == 404
    assert any("no GET route" in v.message for v in harbor_double.take_violations())


def test_an_execution_runs_its_tasks_then_turns_final_after_the_lag():
    clock = FakeClock()
    state = ReplicatingHarborState(lag=30.0, setup=1.0, stagger=1.0, duration=5.0, clock=clock)
    registry = state.add_registry("relay")
    policy = state.add_policy("p", dest_registry_id=registry["id"], dest_namespace="mirror",
                              filters=[{"type": "name", "value": "library/**"}])
    state.add_repository("library", "app")
    state.add_repository("library", "team/api")
    state.outcome("library/team/api", "Failed", "boom")
    execution = state.start_execution(policy)
    state.refresh()
    assert state.tasks_of(execution["id"]) == []  # the flow has not created them yet
    clock.now = 2.0
    state.refresh()
    assert [t["status"] for t in state.tasks_of(execution["id"])] == ["InProgress", "InProgress"]
    clock.now = 7.5
    state.refresh()
    assert [t["status"] for t in state.tasks_of(execution["id"])] == ["Succeed", "Failed"]
    assert execution["status"] == "InProgress"  # tasks are done, the status is not refreshed yet
    clock.now = 37.5
    state.refresh()
    assert execution["status"] == "Failed"
    assert state.task_logs[state.tasks_of(execution["id"])[1]["id"]] == "boom"
    assert [t["dst_resource"] for t in state.tasks_of(execution["id"])] == [
        "mirror/app [1 item(s) in total]", "mirror/api [1 item(s) in total]"]


def test_an_execution_with_nothing_to_copy_succeeds_with_harbors_text():
    clock = FakeClock()
    state = ReplicatingHarborState(lag=1.0, clock=clock)
    registry = state.add_registry("relay")
    policy = state.add_policy("p", dest_registry_id=registry["id"], filters=[{"type": "name", "value": "none/**"}])
    execution = state.start_execution(policy)
    clock.now = 5.0
    state.refresh()
    assert (execution["status"], execution["status_text"]) == ("Succeed", "no resources need to be replicated")
