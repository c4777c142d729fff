"""The intake's held store connection: commits like write(), recovers after a failure, is not shared across fork."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from adapter.webhooks.store import SCHEMA_VERSION, Store, schema_version


@pytest.fixture
def store(tmp_path):
    found = Store(f"sqlite:///{tmp_path}/held.db")
    found.migrate()
    yield found
    found.close()


def versions(store) -> list[int]:
    with store.read() as conn:
        return sorted(conn.execute(sa.select(schema_version.c.version)).scalars())


def test_a_held_write_commits_and_a_failed_one_rolls_back_and_recovers(store):
    held = store.held()
    with store.write(held) as conn:
        conn.execute(schema_version.insert().values(version=7))
    with pytest.raises(RuntimeError), store.write(held) as conn:
        conn.execute(schema_version.insert().values(version=8))
        raise RuntimeError("boom")
    with store.write(held) as conn:
        conn.execute(schema_version.insert().values(version=9))
    assert versions(store) == [SCHEMA_VERSION, 7, 9]


def test_a_forked_child_writes_on_its_own_connection(store):
    held = store.held()
    with store.write(held) as conn:
        conn.execute(schema_version.insert().values(version=2))
    parent_conn = held.connection()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            with store.write(held) as conn:
                conn.execute(schema_version.insert().values(version=3))
            os._exit(0 if held.connection() is not parent_conn else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with store.write(held) as conn:
        conn.execute(schema_version.insert().values(version=4))
    assert held.connection() is parent_conn
    assert versions(store) == [SCHEMA_VERSION, 2, 3, 4]

