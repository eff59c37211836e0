"""What a PipelineRun's children say about each pipeline task: done, failed, skipped, results.

Mirrors Tekton's ``PipelineRunFacts`` / ``ResolvedPipelineTask``: one :class:`TaskState` per
pipeline task (a matrixed task owns several runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tektite.api.pipeline import PipelineTask
from tektite.core.conditions import get_condition

JSON = dict[str, Any]

CANCELLED_REASONS = ("TaskRunCancelled", "Cancelled", "PipelineRunCancelled", "CustomRunCancelled")


class Skip:
    NONE = "None"
    STOPPING = "PipelineRun was stopping"
    GRACEFULLY_CANCELLED = "PipelineRun was gracefully cancelled"
    GRACEFULLY_STOPPED = "PipelineRun was gracefully stopped"
    PARENT_SKIPPED = "Parent Tasks were skipped"
    MISSING_RESULTS = "Results were missing"
    WHEN = "When Expressions evaluated to false"
    PIPELINE_TIMEOUT = "PipelineRun timeout has been reached"
    TASKS_TIMEOUT = "PipelineRun Tasks timeout has been reached"
    FINALLY_TIMEOUT = "PipelineRun Finally timeout has been reached"
    EMPTY_MATRIX = "Matrix Parameters have an empty array"


@dataclass
class TaskState:
    pt: PipelineTask
    is_finally: bool
    runs: list[JSON] = field(default_factory=list)
    expected: int | None = None  # matrix combinations, once known
    skip: str | None = None  # a Skip reason once decided
    when_status: list[JSON] | None = None

    @property
    def name(self) -> str:
        return self.pt.name

    @property
    def started(self) -> bool:
        return bool(self.runs)

    def _conds(self) -> list[JSON | None]:
        key = len(self.runs)
        cached = self.__dict__.get("_conds_cache")
        if cached is None or cached[0] != key:
            cached = (key, [get_condition(r) for r in self.runs])
            self.__dict__["_conds_cache"] = cached
        return cached[1]

    @property
    def done(self) -> bool:
        if not self.runs:
            return False
        if self.expected is not None and len(self.runs) < self.expected:
            return False
        return all(c is not None and c.get("status") in ("True", "False") for c in self._conds())

    @property
    def succeeded(self) -> bool:
        return self.done and all(c is not None and c.get("status") == "True" for c in self._conds())

    @property
    def cancelled(self) -> bool:
        return self.done and any(
            c is not None and c.get("status") == "False" and c.get("reason") in CANCELLED_REASONS
            for c in self._conds()
        )

    @property
    def failed(self) -> bool:
        """Done with a failure that is not a cancellation (ignored failures included)."""
        return (
            self.done
            and not self.cancelled
            and any(c is not None and c.get("status") == "False" for c in self._conds())
        )

    @property
    def ignored(self) -> bool:
        return self.failed and self.pt.on_error == "continue"

    @property
    def running(self) -> bool:
        return self.started and not self.done

    @property
    def settled(self) -> bool:
        """Nothing more will happen to this task: done or skipped."""
        return self.done or self.skip is not None

    def reason(self) -> str:
        if self.skip is not None or not self.runs:
            return ""
        if len(self.runs) == 1:
            c = get_condition(self.runs[0])
            return c.get("reason", "") if c else ""
        if self.failed:  # a matrix: the reason of its first failed run (FailureIgnored when ignored)
            for c in self._conds():
                if c is not None and c.get("status") == "False":
                    return str(c.get("reason") or "Failed")
        return "Succeeded" if self.succeeded else ""

    def status_word(self) -> str:
        """``$(tasks.<t>.status)``: Succeeded, Failed or None."""
        if self.succeeded:
            return "Succeeded"
        if self.done and (self.failed or self.cancelled):
            return "Failed"
        return "None"

    def results(self) -> dict[str, Any]:
        """Results of the task; a matrixed task's string results are aggregated into arrays."""
        if not self.runs:
            return {}
        if self.pt.matrix is None:
            return {r["name"]: r["value"] for r in (self.runs[0].get("status") or {}).get("results") or []}
        agg: dict[str, list[str]] = {}
        for run in self.runs:
            for r in (run.get("status") or {}).get("results") or []:
                value = r.get("value")
                agg.setdefault(r["name"], []).append(value if isinstance(value, str) else json.dumps(value))
        return dict(agg)


def aggregate_status(states: list[TaskState]) -> str:
    """``$(tasks.status)`` for finally tasks."""
    dag = [s for s in states if not s.is_finally]
    if any(s.failed and not s.ignored for s in dag) or any(s.cancelled for s in dag):
        return "Failed"
    if all(s.succeeded or (s.failed and s.ignored) for s in dag):
        return "Succeeded"
    if all(s.succeeded or s.skip is not None or s.ignored for s in dag):
        return "Completed"
    return "None"
