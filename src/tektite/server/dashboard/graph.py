"""The PipelineRun's DAG as the dashboard draws it: nodes with their run's state, edges, a layout.

Edges come from ``runAfter`` and from result references (``$(tasks.a.results.x)`` in params,
matrix and when), exactly the dependencies the engine schedules by (``tektite.core.dag``).
A task sits one column right of its furthest dependency; ``finally`` tasks get the last column.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticError

from tektite.api.pipeline import PipelineSpec, PipelineTask
from tektite.controller.rerun import reused_taskrun
from tektite.core import dag
from tektite.core.conditions import get_condition
from tektite.server.dashboard.runs import duration_seconds, status_word

JSON = dict[str, Any]

NODE_W = 180
NODE_H = 52
GAP_X = 70
GAP_Y = 22
PAD = 16
_RANK = {"Failed": 0, "TimedOut": 1, "Cancelled": 2, "Running": 3, "Pending": 4, "Succeeded": 5}


def pipeline_spec(pr: JSON) -> JSON | None:
    """The spec the run executes: ``status.pipelineSpec`` (resolved), else ``spec.pipelineSpec``."""
    return (pr.get("status") or {}).get("pipelineSpec") or (pr.get("spec") or {}).get("pipelineSpec")


def _node_state(pt_name: str, runs: list[JSON], pr: JSON) -> JSON:
    status = pr.get("status") or {}
    skipped = {s.get("name"): s for s in status.get("skippedTasks") or []}
    if not runs:
        if pt_name in skipped:
            skip = skipped[pt_name]
            return {"status": "Skipped", "reason": skip.get("reason"), "runs": []}
        return {"status": "Pending" if status_word(pr) in ("Pending", "Running") else "NotRun", "runs": []}
    words = [status_word(r) for r in runs]
    worst = min(words, key=lambda w: _RANK.get(w, 9))
    starts = [(r.get("status") or {}).get("startTime") for r in runs]
    ends = [(r.get("status") or {}).get("completionTime") for r in runs]
    span: JSON = {"startTime": min((s for s in starts if s), default=None)}
    if all(ends):
        span["completionTime"] = max(e for e in ends if e)
    cond = get_condition(runs[0]) or {}
    return {
        "status": worst,
        "reason": cond.get("reason") if len(runs) == 1 else f"{len(runs)} runs",
        "startTime": span["startTime"],
        "completionTime": span.get("completionTime"),
        "duration": duration_seconds(span),
        "runs": [
            {"kind": r.get("kind"), "name": r["metadata"]["name"], "status": status_word(r)} for r in runs
        ],
        "reused": all(reused_taskrun(r) for r in runs),  # a rerun from failure did not run it again
    }


def _levels(tasks: list[PipelineTask]) -> tuple[dict[str, int], dict[str, list[str]]]:
    names = [t.name for t in tasks]
    deps = {t.name: dag.dependencies(t, names) for t in tasks}
    level: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name in level:
            return level[name]
        if name in seen:  # a cycle: the engine refuses the run; draw it anyway
            return 0
        parents = [visit(d, seen | {name}) for d in deps[name]]
        level[name] = 1 + max(parents) if parents else 0
        return level[name]

    for name in names:
        visit(name, frozenset())
    return level, deps


def build_graph(pr: JSON, children: list[JSON]) -> JSON | None:
    """Nodes (with x/y), edges and the drawing size; None when the run has no pipeline spec yet."""
    raw = pipeline_spec(pr)
    if raw is None:
        return None
    try:
        spec = PipelineSpec.model_validate(raw)
    except PydanticError as exc:
        return {
            "error": f"cannot read the pipeline spec: {exc.errors()[0].get('msg')}",
            "nodes": [],
            "edges": [],
        }
    tasks = list(spec.tasks or [])
    finals = list(spec.finally_ or [])
    by_task: dict[str, list[JSON]] = {}
    for child in children:
        task = ((child.get("metadata") or {}).get("labels") or {}).get("tekton.dev/pipelineTask")
        if task:
            by_task.setdefault(task, []).append(child)
    for runs in by_task.values():
        runs.sort(key=lambda r: r["metadata"].get("name", ""))
    level, deps = _levels(tasks)
    last = max(level.values(), default=-1) + 1
    names = [t.name for t in tasks]
    for t in finals:
        level[t.name] = last
        deps[t.name] = [r.task for r in dag.task_result_refs(t) if r.task in names]
    rows: dict[int, int] = {}
    nodes = []
    for t, is_finally in [*((t, False) for t in tasks), *((t, True) for t in finals)]:
        col = level[t.name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        nodes.append(
            {
                "name": t.name,
                "finally": is_finally,
                "x": PAD + col * (NODE_W + GAP_X),
                "y": PAD + row * (NODE_H + GAP_Y),
                "w": NODE_W,
                "h": NODE_H,
                **_node_state(t.name, by_task.get(t.name, []), pr),
            }
        )
    run_after = {t.name: set(t.run_after or []) for t in [*tasks, *finals]}
    edges = [
        {"from": d, "to": name, "via": "runAfter" if d in run_after[name] else "results"}
        for name, ds in deps.items()
        for d in ds
    ]
    columns = max(level.values(), default=-1) + 1
    return {
        "nodes": nodes,
        "edges": edges,
        "finallyColumn": last if finals else None,
        "width": PAD * 2 + max(columns, 1) * (NODE_W + GAP_X) - GAP_X,
        "height": PAD * 2 + max(rows.values(), default=1) * (NODE_H + GAP_Y) - GAP_Y,
    }
