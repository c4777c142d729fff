"""Text and data renderings of plans, apply results and followed executions (the CLI only prints them)."""

from __future__ import annotations

from typing import Any

from provisioning.follow import Snapshot, task_route
from provisioning.printers import cell, plain
from provisioning.provision import ApplyResult, Change, Plan

_SIGNS = {"create": "+", "update": "~", "unchanged": "=", "prune": "-", "conflict": "!"}


def _label(change: Change, planned: bool) -> str:
    action = "would prune" if planned and change.action == "prune" else change.action
    where = f" in project {change.project}" if change.project else ""
    text = f"{_SIGNS[change.action]} {change.kind} {change.name}{where} ({action})"
    return f"{text}: {change.reason}" if change.reason else text


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return cell(value)


def change_lines(change: Change, planned: bool = True) -> list[str]:
    lines = [_label(change, planned)]
    for key, diff in change.public()["changes"].items():
        old, new = diff["from"], diff["to"]
        shown = _value(new) if change.action == "create" else f"{_value(old)} -> {_value(new)}"
        lines.append(f"    {key}: {shown}")
    return lines


def plan_data(plan: Plan) -> dict[str, Any]:
    changes = []
    for change in plan.changes:
        item = change.public()
        if change.action == "prune":
            item["action"] = "would prune"
        changes.append(item)
    return {"changes": changes, "summary": plan.summary()}


def plan_text(plan: Plan, source: str) -> str:
    lines = [line for change in plan.changes for line in change_lines(change)]
    s = plan.summary()
    lines.append(f"Plan for {source}: {s['create']} to create, {s['update']} to update, {s['unchanged']} unchanged, "
                 f"{s['prune']} to prune, {s['conflict']} conflicts.")
    return "\n".join(lines)


def apply_data(result: ApplyResult) -> dict[str, Any]:
    failed = None
    if result.failed:
        failed = {**result.failed.public(), "error": str(result.error)}
    return {"done": [c.public() for c in result.done], "failed": failed,
            "not_done": [c.public() for c in result.not_done]}


def apply_text(result: ApplyResult) -> str:
    lines = [f"done: {_label(c, False)}" for c in result.done]
    if result.failed:
        lines.append(f"FAILED: {_label(result.failed, False)}: {result.error}")
        lines += [f"not done: {_label(c, False)}" for c in result.not_done]
    s = len(result.done)
    lines.append(f"Apply stopped: {s} done, 1 failed, {len(result.not_done)} not done." if result.failed
                 else f"Apply complete: {s} done.")
    return "\n".join(lines)


def execution_data(snap: Snapshot, rule: str | None, tails: dict[int, str], verdict: str) -> dict[str, Any]:
    failed = [{**plain(t), "log_tail": tails.get(t.id, "")} for t in snap.failed_tasks]
    return {"rule": rule, "verdict": verdict, "execution": plain(snap.execution), "counts": snap.counts(),
            "tasks": plain(snap.tasks), "failed_tasks": failed}


def execution_text(snap: Snapshot, rule: str | None, tails: dict[int, str], verdict: str) -> str:
    e, c = snap.execution, snap.counts()
    of_rule = f" of rule {rule}" if rule else ""
    lines = [f"execution {e.id}{of_rule}: {e.status} ({verdict}); tasks: {c['total']} total, {c['succeed']} "
             f"succeeded, {c['failed']} failed, {c['stopped']} stopped, {c['running']} running"]
    if e.status_text:
        lines.append(f"  {e.status_text}")
    for task in snap.failed_tasks:
        lines.append(f"failed task {task.id}: {task_route(task)}")
        lines += [f"  | {line}" for line in tails.get(task.id, "").splitlines()] or ["  | (empty log)"]
    return "\n".join(lines)
