"""The Go round trip: what survives json.Unmarshal into tekton.dev/v1 structs and json.Marshal back."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from chains_format_runs import pipelinerun, results, taskrun

from tektite.core.gotypes.goschema import plain
from tektite.core.gotypes.tektontypes import PIPELINE_RUN, PIPELINE_RUN_SPEC, TASK_RUN, TASK_RUN_SPEC


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


_ODD_RUNS: list[dict[str, Any]] = [
    taskrun(
        results_=results(IMAGE_URL="r", IMAGE_DIGEST="sha256:" + "a" * 64),
        params=[{"name": "p", "value": ["x", None]}],
        provenance={
            "refSource": {"uri": "git+x", "digest": {"sha1": "1"}},
            "featureFlags": {"EnableAPIFields": "beta"},
        },
        sidecars=[{"name": "sc", "imageID": "img"}],
        steps=[
            {
                "name": "s",
                "imageID": "i",
                "terminated": {"exitCode": 0},
                "Results": [{"name": "r", "value": "v"}],
            }
        ],
    ),
    pipelinerun(
        tasks=[
            {
                "name": "t",
                "taskRef": {"name": "x"},
                "params": [{"name": "p", "value": "$(tasks.a.results.r)"}],
            }
        ]
    ),
    {
        "kind": "TaskRun",
        "Metadata": {"NAME": "x", "bogus": 1},
        "spec": None,
        "status": {"steps": [], "taskSpec": "?"},
    },
    {"kind": "TaskRun", "status": {"provenance": None, "results": None, "steps": [None, 3, {"name": None}]}},
]


@pytest.mark.parametrize("run", _ODD_RUNS)
def test_a_run_read_lazily_is_the_go_round_trip(run: dict[str, Any]) -> None:
    """A formatter reads runs field by field (``Struct.lazy``); every value, and the whole, must be
    what ``norm`` makes of it, byte for byte (key order included)."""
    struct = TASK_RUN if run["kind"] == "TaskRun" else PIPELINE_RUN
    expected = struct.norm(run)
    assert orjson.dumps(struct.lazy(run).plain()) == orjson.dumps(expected)

    lazy = struct.lazy(run)  # read part of it first: what was read is reused, not changed
    status = lazy["status"]
    for name in ("steps", "results", "provenance", "taskSpec", "pipelineSpec", "sidecars"):
        got = status.get(name)
        assert orjson.dumps(plain(got)) == orjson.dumps(expected["status"].get(name))
        assert (name in status) == (name in expected["status"])
    assert list(lazy["metadata"]) == list(expected["metadata"])
    assert orjson.dumps(lazy.plain()) == orjson.dumps(expected)
