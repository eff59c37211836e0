"""Pipeline-level param enums must be a subset of the enums of the task params they feed
(pipelines.md, "Param Enum"): Tekton's ValidateParamEnumSubset."""

from __future__ import annotations

from tektite.api.params import Param, ParamSpec
from tektite.core.params import enum_subset_problem


def specs(**enums: list[str] | None) -> list[ParamSpec]:
    return [
        ParamSpec.model_validate({"name": n, "enum": e} if e is not None else {"name": n})
        for n, e in enums.items()
    ]


def params(**values: str) -> list[Param]:
    return [Param.model_validate({"name": n, "value": v}) for n, v in values.items()]


def test_a_narrower_pipeline_enum_is_accepted() -> None:
    assert (
        enum_subset_problem(
            params(message="$(params.message)"), specs(message=["v1"]), specs(message=["v1", "v2"])
        )
        is None
    )


def test_a_pipeline_enum_allowing_more_than_the_task_is_refused_with_both_sets() -> None:
    problem = enum_subset_problem(
        params(msg="$(params.message)"), specs(message=["v1", "v3"]), specs(msg=["v1", "v2"])
    )
    assert problem == (
        'pipeline param "message" enum: [v1 v3] is not a subset of the referenced task param enum: [v1 v2]'
    )


def test_an_empty_pipeline_enum_means_any_value_and_is_refused_for_an_enum_task_param() -> None:
    problem = enum_subset_problem(
        params(message="$(params.message)"), specs(message=None), specs(message=["v1"])
    )
    assert problem is not None and "enum: [] is not a subset" in problem


def test_values_referencing_several_params_literals_and_enum_free_task_params_are_not_checked() -> None:
    pipeline = specs(a=["v1"], b=["v9"])
    assert enum_subset_problem(params(m="$(params.a) and $(params.b)"), pipeline, specs(m=["v1"])) is None
    assert enum_subset_problem(params(m="v7"), pipeline, specs(m=["v1"])) is None
    assert enum_subset_problem(params(m="$(params.b)"), pipeline, specs(m=None)) is None
    assert enum_subset_problem(params(m="$(params['b'])"), pipeline, specs(m=["v1"])) is not None
