"""The bridge follower's decisions on a scaled clock: long polls, grace, unreachable, the bridge's own limit."""

from __future__ import annotations

import pytest
import requests

from provisioning.bridgewait import BridgeFollower, BridgeTarget, BridgeUnavailable, snapshot
from provisioning.follow import FollowTimeout


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Answer:
    def __init__(self, status: int, body=None, headers=None):
        self.status_code, self._body, self.headers, self.reason = status, body, headers or {}, "reason"

    def json(self):
        return self._body


def execution(settled: bool, status: str = "succeeded", tasks=None) -> dict:
    tasks = tasks if tasks is not None else [{"task_id": 7, "status": "succeeded", "done": True,
                                              "repository": "library/app", "failures": 0}]
    return {"execution_id": 12, "state": "final" if settled else "open", "settled": settled, "trigger": "manual",
            "summary": {"status": status, "counts": {"succeeded": 1}, "total": len(tasks), "failed_artifacts": []},
            "tasks": tasks}


class Bridge:
    """A session whose GET holds each long poll for its timeout on the clock, then answers `answer(now)`."""

    def __init__(self, clock: Clock, answer):
        self.clock, self.answer, self.asked = clock, answer, []

    def get(self, url, params, headers, timeout):
        self.asked.append((self.clock.now, dict(params), headers["Authorization"]))
        held = float(params["timeout"].rstrip("s"))
        reply = self.answer(self.clock.now, held)
        if isinstance(reply, Exception):
            raise reply
        return reply


def follower(clock, bridge, **kwargs) -> BridgeFollower:
    return BridgeFollower(BridgeTarget("http://bridge.test", "tok"), bridge, clock=clock, sleep=clock.sleep, **kwargs)


def test_a_ten_minute_wait_costs_twenty_requests_and_the_verdict_comes_when_it_is_final():
    clock = Clock()
    final_at = 600.0

    def answer(now, held):
        if now + held >= final_at:  # the bridge answers as soon as the execution settles
            clock.now = final_at
            return Answer(200, execution(True))
        clock.now += held
        return Answer(200, execution(False))

    bridge = Bridge(clock, answer)
    snap, tails = follower(clock, bridge).follow(12)
    assert snap.succeeded and clock.now == final_at
    assert len(bridge.asked) == 20  # one long poll per 30 s
    assert [a[0] for a in bridge.asked] == [30.0 * i for i in range(20)]
    assert all(p == {"wait": "final", "timeout": "30.000s"} for _, p, _ in bridge.asked)
    assert bridge.asked[0][2] == "Bearer tok"


def test_an_execution_the_bridge_never_hears_of_falls_back_after_the_grace_period():
    clock = Clock()

    def answer(now, held):
        clock.now += held
        return Answer(404, {"error": {"code": "NOT_FOUND", "message": "no execution 12"}})

    bridge = Bridge(clock, answer)
    with pytest.raises(BridgeUnavailable, match="has not heard of execution 12 after 60s"):
        follower(clock, bridge).follow(12)
    assert len(bridge.asked) == 2 and clock.now == 60.0


def test_a_bridge_that_does_not_hold_the_request_is_not_asked_faster():
    clock = Clock()
    bridge = Bridge(clock, lambda now, held: Answer(404, {"error": {"code": "NOT_FOUND", "message": "no"}}))
    with pytest.raises(BridgeUnavailable):
        follower(clock, bridge).follow(12)
    assert len(bridge.asked) == 2  # 404 at once each time; the follower still waits out each poll


def test_an_unreachable_bridge_is_tried_three_times_then_given_up():
    clock = Clock()
    bridge = Bridge(clock, lambda now, held: requests.ConnectionError("refused"))
    with pytest.raises(BridgeUnavailable, match="unreachable \\(ConnectionError\\)"):
        follower(clock, bridge).follow(12)
    assert len(bridge.asked) == 3 and clock.now == 4.0


def test_a_refused_token_gives_up_at_once():
    clock = Clock()
    bridge = Bridge(clock, lambda now, held: Answer(401, {"error": {"code": "UNAUTHORIZED", "message": "token"}}))
    with pytest.raises(BridgeUnavailable, match="answered 401: UNAUTHORIZED token"):
        follower(clock, bridge).follow(12)
    assert len(bridge.asked) == 1


def test_the_bridges_limit_of_waiters_is_respected_with_its_retry_after():
    clock, answers = Clock(), [Answer(503, {"error": {"code": "TOO_MANY_WAITERS", "message": "busy"}},
                                      {"Retry-After": "5"}), Answer(200, execution(True))]
    bridge = Bridge(clock, lambda now, held: answers.pop(0))
    snap, _ = follower(clock, bridge).follow(12)
    assert snap.succeeded and [a[0] for a in bridge.asked] == [0.0, 5.0]


def test_a_timeout_while_open_is_a_follow_timeout_with_the_last_picture():
    clock = Clock()

    def answer(now, held):
        clock.now += held
        return Answer(200, execution(False, tasks=[{"task_id": 7, "status": "failed", "done": False,
                                                    "repository": "library/app", "failures": 1}]))

    with pytest.raises(FollowTimeout) as caught:
        follower(clock, Bridge(clock, answer)).follow(12, timeout=45)
    assert caught.value.snapshot.tasks[0].status == "InProgress"  # failed with attempts left: still running


def test_a_settled_failure_maps_to_harbors_words_with_the_bridges_log_tails():
    data = execution(True, "failed", [{"task_id": 7, "status": "failed", "done": True, "repository": "library/app",
                                       "failures": 3}])
    data["summary"]["failed_artifacts"] = [{"task_id": 7, "log_tail": ["a", "b"]}]
    snap = snapshot(data)
    assert snap.execution.status == "Failed" and [t.status for t in snap.failed_tasks] == ["Failed"]
    assert not snap.succeeded and snap.final
