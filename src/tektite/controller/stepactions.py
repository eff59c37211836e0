"""Inline StepActions into steps, with Tekton's param precedence (stepactions.md)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tektite.api.params import Param, ParamSpec, ResultSpec
from tektite.core.params import bind
from tektite.core.substitution import Substituter

JSON = dict[str, Any]

# Fields a StepAction provides; a step with `ref` may not set them itself.
PROVIDED = ("image", "command", "args", "script", "env", "workingDir", "securityContext", "volumeMounts")


def inline(step: JSON, action_spec: JSON, task_params: dict[str, Any]) -> JSON:
    """Return ``step`` with the StepAction ``action_spec`` merged in and its params applied."""
    # 1. task params inside the step-provided param values
    task_sub = Substituter({"params": task_params}, roots=("params",))
    provided = [
        Param.model_validate(
            {
                "name": p["name"],
                "value": task_sub.apply(p.get("value", ""))
                if not isinstance(p.get("value"), str)
                else task_sub.value(p["value"]),
            }
        )
        for p in step.get("params") or []
    ]
    specs = [ParamSpec.model_validate(p) for p in action_spec.get("params") or []]
    # 2-4. step-provided values, defaults referencing params, plain defaults
    by_name = {s.name: s for s in specs}
    cleaned: list[Param] = []
    for p in provided:
        spec = by_name.get(p.name)
        if spec is not None and spec.effective_type == "object" and not isinstance(p.value, dict):
            continue  # an unresolved value keeps the declared object's defaults, key by key
        cleaned.append(p)
    values = bind(specs, cleaned)
    body = {k: copy.deepcopy(v) for k, v in action_spec.items() if k in PROVIDED}
    body = Substituter({"params": values}, roots=("params",)).apply(body)
    out = {k: v for k, v in step.items() if k not in ("ref", "params")}
    out.update(body)
    if action_spec.get("results") and not step.get("results"):
        out["results"] = [ResultSpec.model_validate(r).dump() for r in action_spec["results"]]
    return out


StepActionGetter = Callable[[JSON], JSON]  # step ref -> StepAction object
