"""The Go round trip: what survives json.Unmarshal into tekton.dev/v1 structs and json.Marshal back."""

from __future__ import annotations

from tektite.chains.formats.tektontypes import PIPELINE_RUN_SPEC, TASK_RUN, TASK_RUN_SPEC


def test_unknown_fields_vanish_and_required_zero_values_appear() -> None:
    spec = TASK_RUN_SPEC.norm(
        {
            "taskSpec": {"steps": [{"name": "s", "image": "busybox", "resources": {}}]},
            "resources": {"inputs": []},
            "params": [],
        }
    )
    assert spec == {
        "serviceAccountName": "",
        "taskSpec": {"steps": [{"name": "s", "image": "busybox", "computeResources": {}}]},
    }


def test_json_keys_match_struct_fields_ignoring_case() -> None:
    spec = TASK_RUN_SPEC.norm({"ServiceAccountName": "builder", "TIMEOUT": "1h"})
    assert spec == {"serviceAccountName": "builder", "timeout": "1h0m0s"}


def test_param_values_keep_their_shape_and_fall_back_to_raw_text() -> None:
    spec = TASK_RUN_SPEC.norm(
        {
            "params": [
                {"name": "s", "value": "x"},
                {"name": "a", "value": ["x", "y"]},
                {"name": "o", "value": {"k": "v"}},
                {"name": "n", "value": 3},
                {"name": "mixed", "value": {"k": 1}},
                {"name": "null", "value": None},
            ]
        }
    )
    assert [p["value"] for p in spec["params"]] == ["x", ["x", "y"], {"k": "v"}, "3", '{"k":1}', ""]


def test_embedded_task_and_pipeline_results_write_their_zero_fields() -> None:
    spec = PIPELINE_RUN_SPEC.norm(
        {
            "pipelineSpec": {
                "tasks": [{"name": "t", "taskSpec": {"steps": [{"name": "s"}]}}],
                "results": [{"name": "r", "value": "$(tasks.t.results.r)"}],
            },
            "timeouts": {"pipeline": "60m"},
        }
    )
    task = spec["pipelineSpec"]["tasks"][0]
    assert task["taskSpec"] == {
        "spec": None,
        "metadata": {},
        "steps": [{"name": "s", "computeResources": {}}],
    }
    assert spec["pipelineSpec"]["results"] == [
        {"name": "r", "description": "", "value": "$(tasks.t.results.r)"}
    ]
    assert spec["timeouts"] == {"pipeline": "1h0m0s"}
    assert spec["taskRunTemplate"] == {}


def test_whole_taskrun_marshals_in_go_field_order() -> None:
    tr = TASK_RUN.norm(
        {
            "status": {"podName": "p", "steps": [{"imageID": "x", "name": "s"}]},
            "spec": {"serviceAccountName": "default"},
            "metadata": {"labels": {"b": "2", "a": "1"}, "name": "tr"},
        }
    )
    assert list(tr) == ["metadata", "spec", "status"]
    assert list(tr["metadata"]) == ["name", "creationTimestamp", "labels"]
    assert tr["metadata"]["creationTimestamp"] is None
    assert list(tr["metadata"]["labels"]) == ["a", "b"]
    assert list(tr["status"]["steps"][0]) == ["name", "imageID"]
