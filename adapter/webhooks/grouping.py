"""Grouping per execution: task events fold into one summary, final after a quiet period or when Harbor says so."""

from __future__ import annotations

import json
import logging
from collections import Counter

import sqlalchemy as sa

from adapter.webhooks.harbor import ExecutionHint, ExecutionSource, ExecutionView, HarborUnavailable
from adapter.webhooks.model import STATUS_RANK, UNRESOLVED, Event
from adapter.webhooks.store import Prepared, Store, executions, tasks
from adapter.webhooks.waiters import publish

log = logging.getLogger(__name__)
BATCH = 100
# jobservice runs a replication task up to 3 times (MaxFails, src/jobservice/job/impl/replication/replication.go):
# an Error with attempts left is not the task's end, though Harbor shows the execution Failed meanwhile
# (harbor#14986).
MAX_ATTEMPTS = 3
# gocraft/work waits fails^4 + 15 + rand(0..29)*(fails+1) s before a retry: at most 118 s before the third
# attempt. This much silence after an Error with attempts left means no retry is coming.
RETRY_WINDOW = 150.0
# An event this close before Harbor was last asked may have committed after that poll read the tasks.
_POLL_MARGIN = 2.0


def open_task():
    """SQL: a task whose outcome can still change (running, or failed with attempts left)."""
    return sa.or_(tasks.c.status == "running", sa.and_(tasks.c.status == "failed", tasks.c.failures < MAX_ATTEMPTS))


def task_done(task) -> bool:
    """A task row at its final status: succeeded, stopped, or failed on its last attempt."""
    return task.status != "running" and not (task.status == "failed" and task.failures < MAX_ATTEMPTS)


def _counts(found) -> Counter:
    counts = Counter({"succeeded": 0, "failed": 0, "stopped": 0, "running": 0})
    counts.update(t.status for t in found)
    return counts


def _upserts(store: Store):
    """The two statements the intake runs per batch, built once so SQLAlchemy's compiled cache serves them."""
    ex = store.insert(executions)
    ex = ex.on_conflict_do_update(index_elements=[executions.c.execution_id], set_={
        "last_event_at": ex.excluded.last_event_at,
        "last_occur_at": sa.func.max(executions.c.last_occur_at, ex.excluded.last_occur_at)
        if store.dialect == "sqlite" else sa.func.greatest(executions.c.last_occur_at, ex.excluded.last_occur_at),
        "events": executions.c.events + ex.excluded.events,
        # An event after the summary went out reopens the execution; its next summary is an update.
        "revision": sa.case((executions.c.state == "final", executions.c.revision + 1), else_=executions.c.revision),
        "state": "open",
        "harbor_id": sa.func.coalesce(executions.c.harbor_id, ex.excluded.harbor_id),
    })
    tk = store.insert(tasks)
    newer = sa.or_(tk.excluded.occur_at > tasks.c.occur_at,
                   sa.and_(tk.excluded.occur_at == tasks.c.occur_at, tk.excluded.rank >= tasks.c.rank))
    latest = {col: sa.case((newer, tk.excluded[col]), else_=tasks.c[col])
              for col in ("job_status", "status", "rank", "occur_at")}
    tk = tk.on_conflict_do_update(index_elements=[tasks.c.execution_id, tasks.c.task_id], set_={
        **latest,
        # Running events name no artifact, so what a terminal event said is kept.
        **{col: sa.func.coalesce(tk.excluded[col], tasks.c[col]) for col in ("repository", "name_tag", "refs")},
        "failures": tasks.c.failures + tk.excluded.failures,
        "ref_count": sa.func.coalesce(tk.excluded.ref_count, tasks.c.ref_count),
    })
    return Prepared(store, ex), Prepared(store, tk)


def task_context(event: Event, event_id: int) -> dict:
    """What a per-task alert and its templates see."""
    rep = event.replication
    art = rep.artifact
    return {
        "execution_id": shown_id(rep.execution_id), "task_id": rep.task_id, "event_id": event_id, "status": rep.status,
        "job_status": rep.job_status, "policy": rep.description, "project": rep.project, "trigger": rep.trigger,
        "operator": event.user, "event_type": event.event_type, "harbor_hostname": rep.harbor_hostname,
        "repository": f"{rep.project}/{art.repository}" if art else "", "name_tag": art.name_tag if art else "",
        "references": list(art.references) if art else [], "reference_count": art.reference_count if art else 0,
        "remote_name": rep.remote.registry_name,
        "remote_endpoint": rep.remote.endpoint, "remote_namespace": rep.remote_namespace,
        "occur_at": event.occur_at, "failures": 1 if rep.job_status == "Error" else 0,
    }


def shown_id(harbor_id: int | None) -> int | str:
    """Harbor's execution id where known, else the word the API, the CLI and the alerts show."""
    return UNRESOLVED if harbor_id is None else harbor_id


def _execution_rows(events: list[Event], now: float) -> list[dict]:
    rows: dict[int, dict] = {}
    for event in events:
        rep = event.replication
        row = rows.get(rep.group_id)
        if row is not None:
            row["events"] += 1
            row["last_occur_at"] = max(row["last_occur_at"], event.occur_at)
            continue
        rows[rep.group_id] = {
            "execution_id": rep.group_id, "harbor_id": rep.execution_id, "policy": rep.description,
            "project": rep.project,
            "trigger": rep.trigger, "operator": event.user, "harbor_hostname": rep.harbor_hostname,
            "mode": rep.mode, "remote_name": rep.remote.registry_name, "remote_endpoint": rep.remote.endpoint,
            "remote_namespace": rep.remote_namespace, "started_at": rep.execution_timestamp,
            "first_event_at": now, "last_event_at": now, "last_occur_at": event.occur_at, "events": 1,
            "state": "open", "revision": 1}
    return list(rows.values())


def _task_row(event: Event) -> dict:
    rep, art = event.replication, event.replication.artifact
    return {"execution_id": rep.group_id, "task_id": rep.group_task_id, "job_status": rep.job_status,
            "status": rep.status, "rank": STATUS_RANK[rep.status], "occur_at": event.occur_at,
            "repository": f"{rep.project}/{art.repository}" if art else None, "name_tag": art.name_tag if art else None,
            "refs": json.dumps(list(art.references)) if art else None,
            "ref_count": art.reference_count if art else None,
            "failures": 1 if rep.job_status == "Error" else 0}


def _task_rows(events: list[Event]) -> list[dict]:
    rows: dict[tuple[int, int], dict] = {}
    for event in events:
        if event.replication.group_task_id is None:
            continue  # an id-less Running event: it keeps its execution open, it names no task
        new = _task_row(event)
        key = (new["execution_id"], new["task_id"])
        old = rows.setdefault(key, new)
        if old is new:
            continue
        # The same ordering as the upsert: later occur_at wins, a terminal status wins a tie.
        latest, other = (new, old) if (new["occur_at"], new["rank"]) >= (old["occur_at"], old["rank"]) else (old, new)
        rows[key] = {**latest, "failures": old["failures"] + new["failures"],
                     **{c: latest[c] if latest[c] is not None else other[c]
                        for c in ("repository", "name_tag", "refs", "ref_count")}}
    return list(rows.values())


class Grouper:
    def __init__(self, store: Store, router, outbox, *, quiet_period: float, source: ExecutionSource | None = None,
                 poll_interval: float = 15.0, max_wait: float = 1800.0, harbor_url: str | None = None):
        self.store, self.router, self.outbox = store, router, outbox
        self.quiet_period, self.source = quiet_period, source
        self.poll_interval, self.max_wait, self.harbor_url = poll_interval, max_wait, harbor_url
        self._upsert_execution, self._upsert_task = _upserts(store)

    def track(self, conn, events: list[Event], now: float) -> None:
        """Folds replication task events into their execution and task rows (inside the intake transaction).

        Rows are merged here first, so each statement touches an execution or a task once per batch.
        """
        rows = _execution_rows(events, now)
        self._upsert_execution.execute(conn, rows)
        task_rows = _task_rows(events)
        if task_rows:
            self._upsert_task.execute(conn, task_rows)
        publish(conn, [row["execution_id"] for row in rows])

    def summary(self, conn, row, view: ExecutionView | None = None, harbor_id: int | None = None) -> dict:
        """The execution's summary from its task rows, corrected by what Harbor said when it was asked."""
        found = _tasks(conn, row.execution_id)
        counts = _counts(found)
        # Before 2.13 the task ids are the bridge's own (model.group_task_id): not shown as Harbor's.
        failed = [{"task_id": t.task_id if row.execution_id > 0 else None, "repository": t.repository or "",
                   "references": json.loads(t.refs or "[]"), "reference_count": t.ref_count or 0, "reason": "",
                   "failures": t.failures} for t in found if t.status == "failed"]
        summary = {
            "execution_id": shown_id(row.harbor_id if harbor_id is None else harbor_id), "key": row.execution_id,
            "revision": row.revision, "event_type": "REPLICATION",
            "policy": row.policy, "policy_id": None,
            "project": row.project, "trigger": row.trigger, "operator": row.operator, "mode": row.mode,
            "harbor_hostname": row.harbor_hostname, "remote_name": row.remote_name,
            "remote_endpoint": row.remote_endpoint, "remote_namespace": row.remote_namespace,
            "started_at": row.started_at, "finished_at": row.last_occur_at,
            "duration": max(0, row.last_occur_at - row.started_at) if row.started_at else 0,
            "counts": dict(counts), "total": len(found), "failed_artifacts": failed, "status_text": "",
            "source": "events", "incomplete": counts["running"] > 0, "link": None,
        }
        summary["status"] = _status(counts)
        if view is not None:
            _apply_view(summary, view, self.harbor_url)
        return summary

    def finalize_due(self, now: float) -> int:
        """Finalises every execution that is due; returns how many this process finalised."""
        mine = tasks.c.execution_id == executions.c.execution_id
        if self.source is None:
            retrying = sa.exists().where(mine, tasks.c.status == "failed", tasks.c.failures < MAX_ATTEMPTS)
            rows = self._open(sa.and_(executions.c.last_event_at <= now - self.quiet_period,
                                      sa.or_(executions.c.last_event_at <= now - RETRY_WINDOW, ~retrying)))
            return sum(self._finalize(row, now) for row in rows)
        due = sa.or_(executions.c.next_poll_at.is_(None), executions.c.next_poll_at <= now)
        # Every task sent its final status since Harbor was last asked: its task count may say this is all.
        settled = sa.and_(sa.exists().where(mine), ~sa.exists().where(mine, open_task()),
                          executions.c.last_event_at >= executions.c.next_poll_at - self.poll_interval - _POLL_MARGIN)
        return sum(self._poll_harbor(row, now) for row in self._open(sa.or_(due, settled)))

    def _open(self, condition) -> list:
        with self.store.read() as conn:
            return conn.execute(sa.select(executions).where(executions.c.state == "open", condition)
                                .order_by(executions.c.last_event_at).limit(BATCH)).all()

    def _poll_harbor(self, row, now: float) -> bool:
        if not self._claim_poll(row, now):
            return False
        stale = row.last_event_at <= now - self.max_wait
        harbor_id = row.harbor_id if row.harbor_id is not None else self._resolve(row)
        if harbor_id is None:
            # Harbor lists no execution that fits: the events alone tell the story, once they went quiet.
            return row.last_event_at <= now - self.quiet_period and self._finalize(row, now)
        with self.store.read() as conn:
            found = _tasks(conn, row.execution_id)
        try:
            view = self._judge(row, self.source.execution(harbor_id), found, now)
            if view is not None and view.counts.get("failed"):
                view.failed_tasks = self.source.failed_tasks(harbor_id)
        except HarborUnavailable as exc:
            log.warning("execution %s: Harbor not reachable (%s)", harbor_id, exc)
            view = None
        if view is None:
            if not stale:
                return False
            # Stuck executions (harbor#13799) and a Harbor that stays away must still end in an alert.
            log.warning("execution %s: no final status from Harbor %ds after the last event; summarising "
                        "from events", row.execution_id, int(now - row.last_event_at))
        return self._finalize(row, now, view, harbor_id)

    def _resolve(self, row) -> int | None:
        """Harbor's id for an execution whose events carried none (Harbor < 2.13), stored once found."""
        try:
            found = self.source.resolve(ExecutionHint.of(row))
        except HarborUnavailable as exc:
            log.warning("execution %s: Harbor not reachable to resolve its id (%s)", row.execution_id, exc)
            return None
        if found is not None:
            with self.store.write() as conn:
                conn.execute(executions.update().where(executions.c.execution_id == row.execution_id)
                             .values(harbor_id=found))
            log.info("execution %s resolved to Harbor execution %s", row.execution_id, found)
        return found

    def _judge(self, row, view: ExecutionView, found: list, now: float) -> ExecutionView | None:
        """The view to finalise with, or None while the execution may still change."""
        done = bool(found) and all(task_done(t) for t in found)
        if done and 0 < sum(view.counts.values()) <= len(found):
            # Every task Harbor created has sent its final status: no need to wait for Harbor's own status,
            # which trails its tasks by up to 30 s (EXECUTION_STATUS_REFRESH_INTERVAL_SECONDS).
            counts = _counts(found)
            view.status, view.counts = _status(counts), dict(counts)
            return view
        if not view.final:
            return None
        quiet = now - row.last_event_at
        # Harbor shows Failed while a task waits for its retry (harbor#14986): believe it once no retry can come.
        if view.status == "failed" and (quiet < self.quiet_period or (not done and quiet < RETRY_WINDOW)):
            return None
        return view

    def _claim_poll(self, row, now: float) -> bool:
        # Claiming the poll slot first keeps replicas from asking Harbor about the same execution together.
        with self.store.write() as conn:
            slot = (executions.c.next_poll_at.is_(None) if row.next_poll_at is None
                    else executions.c.next_poll_at == row.next_poll_at)
            return bool(conn.execute(executions.update().where(executions.c.execution_id == row.execution_id, slot)
                                     .values(next_poll_at=now + self.poll_interval)).rowcount)

    def _finalize(self, row, now: float, view: ExecutionView | None = None, harbor_id: int | None = None) -> bool:
        with self.store.write() as conn:
            summary = self.summary(conn, row, view, harbor_id)
            done = conn.execute(executions.update().where(
                executions.c.execution_id == row.execution_id, executions.c.state == "open",
                executions.c.events == row.events,  # an event arrived since we read: not final after all
            ).values(state="final", status=summary["status"], summary=json.dumps(summary), finalized_at=now)).rowcount
            if not done:
                return False
            publish(conn, [i for i in (row.execution_id, harbor_id) if i is not None])
            found = [] if _reported_elsewhere(conn, row, harbor_id) else self.router.alerts(
                "execution", f"{row.execution_id}:{row.revision}", summary, execution_id=row.execution_id)
            self.outbox.enqueue(conn, found, now)
        log.info("execution %s final: %s (%d alert(s))", summary["execution_id"], summary["status"], len(found))
        return True


def _reported_elsewhere(conn, row, harbor_id: int | None) -> bool:
    """Whether another row already summarised the same Harbor execution: a policy replicating several projects
    without a destination namespace gives, before 2.13, one group per namespace, and all resolve to one id.
    Harbor's view covers every task, so the first summary speaks for them all."""
    if harbor_id is None or row.execution_id > 0:
        return False
    other = sa.select(executions.c.execution_id).where(executions.c.harbor_id == harbor_id, executions.c.state ==
                                                       "final", executions.c.execution_id != row.execution_id)
    return conn.execute(other.limit(1)).first() is not None


def _tasks(conn, execution_id: int) -> list:
    return conn.execute(sa.select(tasks).where(tasks.c.execution_id == execution_id).order_by(tasks.c.task_id)).all()


def _status(counts: Counter) -> str:
    # Finalised with tasks still running means they went silent: on-call should hear about it as a failure.
    if counts["failed"] or counts["running"]:
        return "failed"
    return "stopped" if counts["stopped"] else "succeeded"


def _apply_view(summary: dict, view: ExecutionView, harbor_url: str | None) -> None:
    summary.update(status=view.status, policy_id=view.policy_id, status_text=view.status_text, source="harbor",
                   counts={**summary["counts"], **view.counts}, total=sum(view.counts.values()), incomplete=False)
    summary["policy"] = view.policy_name or summary["policy"]
    if view.started_at and view.ended_at:
        summary["duration"] = int(view.ended_at - view.started_at)
    # Events name a task by Harbor's id from 2.13 on, before only by its repository.
    known = {a["task_id"]: a for a in summary["failed_artifacts"] if a["task_id"] is not None}
    by_repository = {a["repository"]: a for a in summary["failed_artifacts"]}
    summary["failed_artifacts"] = [
        {"references": [], "reference_count": 0, "failures": 0,
         **(known.get(t.task_id) or by_repository.get(t.repository) or {}),
         "task_id": t.task_id, "repository": t.repository or known.get(t.task_id, {}).get("repository", ""),
         "reason": t.reason, "log_tail": t.log_tail} for t in view.failed_tasks] or summary["failed_artifacts"]
    if harbor_url and summary["execution_id"] != UNRESOLVED:
        summary["link"] = f"{harbor_url}/harbor/replications/{summary['execution_id']}/tasks"
