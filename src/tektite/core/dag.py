"""The Pipeline DAG: edges from ``runAfter`` and from result references; cycle detection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tektite.api.pipeline import PipelineTask
from tektite.core.substitution import references


@dataclass(frozen=True)
class ResultRef:
    task: str
    result: str


def task_result_refs(pt: PipelineTask) -> list[ResultRef]:
    """``$(tasks.<t>.results.<r>...)`` referenced by params, matrix and when of a pipeline task."""
    sources = [p.value for p in pt.params or []]
    if pt.matrix:
        sources += [p.value for p in pt.matrix.params or []]
        for inc in pt.matrix.include or []:
            sources += [p.value for p in inc.params or []]
    for w in pt.when or []:
        sources += [w.input or "", *(w.values or []), w.cel or ""]
    out: list[ResultRef] = []
    for _, segs in references(sources, root="tasks"):
        if len(segs) >= 4 and segs[2] == "results" and isinstance(segs[1], str) and isinstance(segs[3], str):
            ref = ResultRef(segs[1], segs[3])
            if ref not in out:
                out.append(ref)
    return out


def dependencies(pt: PipelineTask, task_names: Iterable[str]) -> list[str]:
    """Tasks that must finish before ``pt``: runAfter plus every task whose results it uses."""
    names = set(task_names)
    deps: list[str] = []
    for d in [*(pt.run_after or []), *(r.task for r in task_result_refs(pt))]:
        if d in names and d not in deps:
            deps.append(d)
    return deps


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle as a path ``[a, b, a]`` if the graph (node -> deps) has one."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if state.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def build(tasks: Sequence[PipelineTask]) -> dict[str, list[str]]:
    names = [t.name for t in tasks]
    return {t.name: dependencies(t, names) for t in tasks}


def downstream(graph: dict[str, list[str]], roots: Iterable[str]) -> set[str]:
    """Every task that (transitively) depends on one of ``roots``."""
    children: dict[str, list[str]] = {n: [] for n in graph}
    for node, deps in graph.items():
        for d in deps:
            children.setdefault(d, []).append(node)
    out: set[str] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out
