"""The executions watcher: alerts for Failed or Stopped executions that no webhook reported.

Harbor sends a webhook per task; an execution that fails before any task exists (the source cannot be
listed, PrepareForPush refused: an SWR organization quota, refused credentials) sends none (harbor.md §5.7).
Only its executions API shows it, so with `harbor.watch` configured the bridge reads it every `interval`.
"""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from adapter.webhooks.harbor import ExecutionView, HarborUnavailable
from adapter.webhooks.store import Store, claim_schedule, executions

log = logging.getLogger(__name__)
SCHEDULE = "watch"
WATCHED = ("failed", "stopped")


class Watcher:
    """One pass per `interval` across all replicas (claimed in the store); each execution alerts once."""

    def __init__(self, store: Store, source, router, outbox, *, interval: float, policies: str, lookback: float,
                 quiet_period: float, harbor_url: str | None = None):
        self.store, self.source, self.router, self.outbox = store, source, router, outbox
        self.interval, self.policies, self.lookback = interval, policies, lookback
        self.quiet_period, self.harbor_url = quiet_period, harbor_url

    def run_due(self, now: float) -> int:
        """Looks at Harbor when this replica claims the pass; returns how many alerts it raised."""
        if not self._claim(now):
            return 0
        try:
            found = self.source.recent_executions(self.policies, now - self.lookback)
        except HarborUnavailable as exc:
            log.warning("watch: Harbor not reachable (%s)", exc)
            return 0
        return sum(self._raise_once(view, now) for view in found if self._unreported(view, now))

    def _claim(self, now: float) -> bool:
        return claim_schedule(self.store, SCHEDULE, now, self.interval)

    def _unreported(self, view: ExecutionView, now: float) -> bool:
        if view.status not in WATCHED:
            return False
        # With tasks, webhooks are on their way: give them the quiet period before calling them missing.
        tasks = sum(view.counts.values())
        return not tasks or (view.ended_at or now) <= now - self.quiet_period

    def _raise_once(self, view: ExecutionView, now: float) -> int:
        with self.store.write() as conn:
            known = sa.or_(executions.c.execution_id == view.id, executions.c.harbor_id == view.id)
            if sum(view.counts.values()) and view.started_at:
                # An id-less group of that start second may still resolve to this execution.
                known = sa.or_(known, sa.and_(executions.c.harbor_id.is_(None),
                                              executions.c.started_at == int(view.started_at)))
            if conn.execute(sa.select(executions.c.execution_id).where(known).limit(1)).first():
                return 0
            summary = self.summary(view)
            inserted = conn.execute(self.store.insert(executions).values(
                execution_id=view.id, harbor_id=view.id, policy=summary["policy"], project=view.project,
                trigger=view.trigger, operator="", harbor_hostname="", mode=view.mode, remote_name=view.remote_name,
                remote_endpoint="", remote_namespace="", started_at=int(view.started_at or 0), first_event_at=now,
                last_event_at=now, last_occur_at=int(view.ended_at or now), events=0, state="final", revision=1,
                status=view.status, summary=json.dumps(summary), finalized_at=now,
            ).on_conflict_do_nothing(index_elements=[executions.c.execution_id])
                .returning(executions.c.execution_id)).first()  # psycopg counts a skipped row as -1, not 0
            if inserted is None:
                return 0
            found = self.router.alerts("execution", f"{view.id}:1", summary, execution_id=view.id)
            self.outbox.enqueue(conn, found, now)
        log.info("watch: execution %s %s with no webhook (%s): %d alert(s)", view.id, view.status,
                 view.status_text or "no status text", len(found))
        return len(found)

    def summary(self, view: ExecutionView) -> dict:
        """The summary a grouped execution gets, from Harbor's record alone."""
        counts = {"succeeded": 0, "failed": 0, "stopped": 0, "running": 0, **view.counts}
        started = int(view.started_at or 0)
        return {
            "execution_id": view.id, "key": view.id, "revision": 1, "event_type": "REPLICATION",
            "policy": view.policy_name, "policy_id": view.policy_id, "project": view.project,
            "trigger": view.trigger, "operator": "",
            "mode": view.mode, "harbor_hostname": "", "remote_name": view.remote_name, "remote_endpoint": "",
            "remote_namespace": "", "started_at": started, "finished_at": int(view.ended_at or started),
            "duration": int((view.ended_at or started) - started) if started else 0, "counts": counts,
            "total": sum(view.counts.values()), "failed_artifacts": [], "status_text": view.status_text,
            "source": "watch", "incomplete": False, "status": view.status,
            "link": f"{self.harbor_url}/harbor/replications/{view.id}/tasks" if self.harbor_url else None,
        }
