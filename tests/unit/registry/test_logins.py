"""LoginGuard: wrong secrets cached, back-off per address and access id, one SWR login per secret, a cap."""

import os
import threading
import time

import pytest

from adapter.registry.logins import FREE_FAILURES, LoginGuard, LoginRefused, SharedRefusals


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Swr:
    """Counts logins; only `right` is accepted."""

    def __init__(self, right="right-secret", delay=0.0):
        self.right, self.delay, self.logins, self.active, self.peak = right, delay, 0, 0, 0
        self._lock = threading.Lock()

    def login(self, secret):
        def call():
            with self._lock:
                self.logins += 1
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(self.delay)
            with self._lock:
                self.active -= 1
            return secret == self.right
        return call


def attempt(guard, swr, secret, address="10.0.0.9", user="eu-de@AK"):
    try:
        guard.check(user, secret, address, swr.login(secret))
        return "ok"
    except LoginRefused as exc:
        return exc.reason


def test_a_repeated_wrong_secret_reaches_swr_once_per_cache_period():
    clock, swr, refused = Clock(), Swr(), []
    guard = LoginGuard(60, fail_seconds=30, clock=clock, on_refused=refused.append)
    assert attempt(guard, swr, "wrong") == "wrong"
    assert [attempt(guard, swr, "wrong") for _ in range(50)] == ["cached"] * 50
    assert swr.logins == 1
    clock.now += 31
    attempt(guard, swr, "wrong")
    assert swr.logins == 2
    assert refused.count("cached") == 50 and refused.count("wrong") == 2


def test_concurrent_attempts_with_one_secret_share_one_login():
    swr = Swr(delay=0.2)
    guard = LoginGuard(60)
    results = []
    threads = [threading.Thread(target=lambda: results.append(attempt(guard, swr, "wrong"))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert swr.logins == 1 and sorted(set(results)) == ["cached", "wrong"]


def test_an_address_backs_off_but_right_credentials_elsewhere_are_not_slowed():
    clock, swr = Clock(), Swr()
    guard = LoginGuard(60, clock=clock)
    outcomes = [attempt(guard, swr, f"guess-{i}") for i in range(20)]
    assert outcomes == ["wrong"] * FREE_FAILURES + ["backoff"] * (20 - FREE_FAILURES)
    assert swr.logins == FREE_FAILURES
    # The same access id from another address, with the right secret: straight through.
    started = time.monotonic()
    assert attempt(guard, swr, "right-secret", address="10.0.0.1") == "ok"
    assert time.monotonic() - started < 0.5
    # The access id's failures lengthen the wait of an address that failed for it, only.
    assert attempt(guard, swr, "other-guess", address="10.0.0.2") == "wrong"
    assert attempt(guard, swr, "yet-another", address="10.0.0.2") == "backoff"


def test_a_secret_that_worked_is_never_held_by_back_off():
    clock, swr = Clock(), Swr()
    guard = LoginGuard(0.5, clock=clock)
    assert attempt(guard, swr, "right-secret") == "ok"
    for i in range(10):
        attempt(guard, swr, f"guess-{i}")
    clock.now += 0.6  # the ok cache expired, the address's back-off (1 s) did not: SWR is asked again, but no back-off applies
    assert attempt(guard, swr, "right-secret") == "ok"
    assert attempt(guard, swr, "guess-new") == "backoff"


def test_back_off_doubles_and_is_forgotten():
    clock, swr = Clock(), Swr()
    guard = LoginGuard(60, clock=clock)
    for i in range(FREE_FAILURES):
        attempt(guard, swr, f"g{i}")
    assert attempt(guard, swr, "g-held") == "backoff"  # 1 s from the last failure
    clock.now += 1.1
    assert attempt(guard, swr, "g-next") == "wrong"
    clock.now += 1.5
    assert attempt(guard, swr, "g-held") == "backoff"  # the wait doubled: 2 s
    clock.now += 1000
    assert attempt(guard, swr, "g-late") == "wrong"


def test_swr_logins_are_capped():
    swr = Swr(delay=0.3)
    guard = LoginGuard(60, max_logins=2)
    threads = [threading.Thread(target=attempt, args=(guard, swr, "right-secret" if i == 0 else f"s{i}",
                                                      f"10.0.1.{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert swr.logins == 8 and swr.peak == 2


@pytest.mark.parametrize("reason", ["wrong", "cached", "backoff"])
def test_refusals_are_counted_by_reason(reason):
    from adapter import metrics

    before = metrics.LOGIN_REFUSED.labels(reason=reason)._value.get()
    metrics.login_refused(reason)
    assert metrics.LOGIN_REFUSED.labels(reason=reason)._value.get() == before + 1


def test_workers_share_the_refused_secrets_and_try_each_once(tmp_path):
    """Two worker processes (forked, as gunicorn's are) with one login file: a wrong secret sent to
    both at once reaches SWR once, and is refused by either afterwards without SWR."""
    path = tmp_path / "logins"
    path.touch()
    counter = tmp_path / "swr-logins"
    counter.write_text("")

    def slow_wrong_login():
        with open(counter, "a") as fh:
            fh.write("x")
        time.sleep(0.5)
        return False

    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # a worker
            guard = LoginGuard(60, shared=str(path))
            code = 0
            try:
                guard.check("eu-de@AK", "wrong-secret", "10.0.0.9", slow_wrong_login)
            except LoginRefused as exc:
                code = {"wrong": 10, "cached": 11}.get(exc.reason, 12)
            os._exit(code)
        pids.append(pid)
    codes = sorted(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids)
    assert codes == [10, 11] and counter.read_text() == "x"
    later = LoginGuard(60, shared=str(path))
    assert attempt(later, Swr(), "wrong-secret") == "cached"


def test_two_workers_trying_two_secrets_in_opposite_order_never_deadlock(tmp_path):
    """Worker 1's thread holds slot A and another of its threads waits for B; worker 2 the other way
    round. To the kernel (record locks belong to processes) that is a deadlock: a blocking lockf
    answered EDEADLK, which reached Harbor as a 500 when four tenants logged in at once."""
    path = tmp_path / "logins"
    path.write_bytes(b"")
    shared = SharedRefusals(str(path))
    key_a, key_b = bytes([0, 0, 0, 1]) + bytes(28), bytes([0, 0, 0, 2]) + bytes(28)
    assert shared._offset(key_a) != shared._offset(key_b)

    def hold_then_take(first: bytes, second: bytes, errors: list) -> None:
        mine = SharedRefusals(str(path))

        def holder():
            with mine.lock(first):
                time.sleep(1.0)

        def taker():
            time.sleep(0.3)
            try:
                with mine.lock(second):
                    pass
            except OSError as exc:
                errors.append(exc.errno)

        threads = [threading.Thread(target=holder), threading.Thread(target=taker)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    pid = os.fork()
    if pid == 0:
        errors = []
        hold_then_take(key_b, key_a, errors)
        os._exit(len(errors))
    errors = []
    hold_then_take(key_a, key_b, errors)
    child_errors = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert errors == [] and child_errors == 0
