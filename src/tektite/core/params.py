"""Binding params to their declarations: defaults, types, object keys, enums.

Returns Tekton's failure reasons and messages so reconcilers can mark runs exactly as Tekton.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tektite.api.params import Param, ParamSpec, value_type
from tektite.core.substitution import Substituter, find_refs

Value = str | list[str] | dict[str, str]


@dataclass
class ParamProblem:
    reason: str  # ParameterMissing, ParameterTypeMismatch, ObjectParameterMissKeys, InvalidParamValue
    message: str


def _names(items: Iterable[str]) -> str:
    return "[" + " ".join(items) + "]"


def bind(
    specs: list[ParamSpec] | None, provided: list[Param] | None, extra: Mapping[str, Value] | None = None
) -> dict[str, Value]:
    """Values for every declared param: provided, else default. Undeclared provided params are kept
    (propagated params for embedded specs, extra params); ``extra`` are lower-priority propagated values."""
    values: dict[str, Value] = dict(extra or {})
    given = {p.name: p.value for p in provided or []}
    for spec in specs or []:
        if spec.name in given:
            value = given[spec.name]
            if isinstance(value, dict) and isinstance(spec.default, dict):
                value = {**spec.default, **value}
            values[spec.name] = value
        elif spec.default is not None:
            values[spec.name] = spec.default
    for name, value in given.items():
        values.setdefault(name, value)
    return resolve_param_refs(values)


def resolve_param_refs(values: dict[str, Value], rounds: int = 8) -> dict[str, Value]:
    """Param values (mostly defaults) may reference other params: resolve until stable."""
    for _ in range(rounds):
        if not any("$(params" in str(v) for v in values.values()):
            break
        sub = Substituter({"params": values}, roots=("params",))
        new = {k: sub.apply(v) if not isinstance(v, str) else sub.value(v) for k, v in values.items()}
        if new == values:
            break
        values = new
    return values


def check(
    specs: list[ParamSpec] | None, provided: list[Param] | None, *, owner: str, enum_enabled: bool = True
) -> ParamProblem | None:
    """Missing params, type mismatches, missing object keys, enum violations (first problem wins,
    in Tekton's order)."""
    given = {p.name: p.value for p in provided or []}
    missing = [s.name for s in specs or [] if s.default is None and s.name not in given]
    if missing:
        return ParamProblem(
            "ParameterMissing", f"invalid input params for {owner}: missing parameters: {_names(missing)}"
        )
    wrong = [s.name for s in specs or [] if s.name in given and value_type(given[s.name]) != s.effective_type]
    if wrong:
        return ParamProblem(
            "ParameterTypeMismatch",
            f"invalid input params for {owner}: param types don't "
            f"match the user-specified type: {_names(wrong)}",
        )
    miss_keys: dict[str, list[str]] = {}
    for s in specs or []:
        if s.effective_type != "object" or not s.properties:
            continue
        value = given.get(s.name)
        if isinstance(value, dict):
            merged = {**(s.default if isinstance(s.default, dict) else {}), **value}
            lost = [k for k in s.properties if k not in merged]
            if lost:
                miss_keys[s.name] = lost
    if miss_keys:
        detail = " ".join(f"{k}:{_names(v)}" for k, v in miss_keys.items())
        return ParamProblem(
            "ObjectParameterMissKeys",
            f"invalid input params for {owner}: missing keys for "
            f"these params which are required in ParamSpec's properties map[{detail}]",
        )
    if enum_enabled:
        for s in specs or []:
            if not s.enum:
                continue
            value = given.get(s.name, s.default)
            if isinstance(value, str) and value not in s.enum:
                return ParamProblem(
                    "InvalidParamValue",
                    f"param `{s.name}` value: {value} is not in the enum {_names(s.enum)}",
                )
    return None


def enum_subset_problem(
    task_params: list[Param] | None,
    pipeline_specs: list[ParamSpec] | None,
    task_specs: list[ParamSpec] | None,
) -> str | None:
    """Tekton's ``ValidateParamEnumSubset`` for one pipeline task: a task param whose value is a
    single ``$(params.x)`` reference to a pipeline param must not allow more than the task's
    ``enum`` does. The pipeline param's ``enum`` must be a subset of the task param's; an empty one
    means "any value" and is not. Values referencing several params are not checked."""
    pipeline_enums = {s.name: s.enum or [] for s in pipeline_specs or []}
    task_enums = {s.name: s.enum or [] for s in task_specs or []}
    for p in task_params or []:
        if not isinstance(p.value, str) or "$(" not in p.value:
            continue
        refs = [segs for _, segs in find_refs(p.value) if segs[0] == "params" and len(segs) > 1]
        if len(refs) != 1:
            continue
        name = str(refs[0][1])
        wanted = task_enums.get(p.name) or []
        if not wanted or name not in pipeline_enums:
            continue
        allowed = pipeline_enums[name]
        if not allowed or not set(allowed) <= set(wanted):
            return (
                f'pipeline param "{name}" enum: {_names(allowed)} is not a subset of '
                f"the referenced task param enum: {_names(wanted)}"
            )
    return None
