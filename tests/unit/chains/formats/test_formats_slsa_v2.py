"""slsa/v2alpha3 and slsa/v2alpha4: SLSA v1.0 provenance."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from chains_format_runs import COMMIT, D1, D2, IMG1, child, pipelinerun, results, taskrun

from tektite.chains.formats import format_run
from tektite.core.gotypes.tektontypes import FEATURE_FLAG_FIELDS

TEKTON_BT = "https://tekton.dev/chains/v2/slsa-tekton"
REMOTE_REF = {"resolver": "git", "params": [{"name": "url", "value": "https://github.com/org/catalog"}]}
REF_SOURCE = {
    "uri": "git+https://github.com/org/catalog",
    "digest": {"sha1": COMMIT},
    "entryPoint": "task/b.yaml",
}


def statement(
    fmt: str, run: dict[str, Any], children: list[dict[str, Any]] | None = None, **cfg: str
) -> dict[str, Any]:
    out = format_run(fmt, run, cfg, children or [])
    assert out["_type"] == "https://in-toto.io/Statement/v1"
    assert out["predicateType"] == "https://slsa.dev/provenance/v1"
    return out


def build_def(out: dict[str, Any]) -> dict[str, Any]:
    return out["predicate"]["buildDefinition"]


def decoded(bp: dict[str, Any]) -> bytes:
    assert bp["mediaType"] == "application/json"
    return base64.b64decode(bp["content"])


@pytest.mark.parametrize("fmt", ["slsa/v2alpha3", "slsa/v2alpha4"])
def test_run_spec_is_the_spec_as_go_writes_it(fmt: str) -> None:
    run = taskrun()
    run["spec"]["timeout"] = "60m"
    run["spec"]["unknownField"] = True
    ext = build_def(statement(fmt, run))["externalParameters"]
    assert ext == {
        "runSpec": {
            "serviceAccountName": "default",
            "taskRef": {"name": "build-task", "kind": "Task"},
            "timeout": "1h0m0s",
        }
    }


@pytest.mark.parametrize("fmt", ["slsa/v2alpha3", "slsa/v2alpha4"])
def test_build_config_source_only_for_remote_definitions(fmt: str) -> None:
    remote = build_def(statement(fmt, taskrun(task_ref=REMOTE_REF, provenance={"refSource": REF_SOURCE})))
    assert remote["externalParameters"]["buildConfigSource"] == {
        "ref": f"sha1:{COMMIT}",
        "repository": "git+https://github.com/org/catalog",
        "path": "task/b.yaml",
    }
    local = build_def(statement(fmt, taskrun(provenance={"refSource": REF_SOURCE})))
    assert "buildConfigSource" not in local["externalParameters"]
    assert local["resolvedDependencies"][0] == {
        "name": "task",
        "uri": REF_SOURCE["uri"],
        "digest": {"sha1": COMMIT},
    }


@pytest.mark.parametrize("fmt", ["slsa/v2alpha3", "slsa/v2alpha4"])
def test_internal_parameters_hold_every_feature_flag(fmt: str) -> None:
    assert build_def(statement(fmt, taskrun()))["internalParameters"] == {}
    run = taskrun(provenance={"featureFlags": {"EnableAPIFields": "beta", "MaxResultSize": 4096}})
    flags = build_def(statement(fmt, run))["internalParameters"]["tekton-pipelines-feature-flags"]
    assert list(flags) == [name for name, _ in FEATURE_FLAG_FIELDS]
    assert flags["EnableAPIFields"] == "beta"
    assert flags["MaxResultSize"] == 4096
    assert flags["AwaitSidecarReadiness"] is False


def test_slsa_tekton_build_type_adds_labels_and_annotations() -> None:
    out = statement("slsa/v2alpha3", taskrun(labels={"app": "x"}), **{"builddefinition.buildtype": TEKTON_BT})
    assert build_def(out)["buildType"] == TEKTON_BT
    assert build_def(out)["internalParameters"] == {"labels": {"app": "x"}, "annotations": None}
    v4 = statement("slsa/v2alpha4", taskrun(), **{"builddefinition.buildtype": TEKTON_BT})
    assert build_def(v4)["buildType"] == "https://tekton.dev/chains/v2/slsa"


@pytest.mark.parametrize("fmt", ["slsa/v2alpha3", "slsa/v2alpha4"])
def test_resolved_dependencies_drop_repeats_by_uri_and_digest(fmt: str) -> None:
    image = {"uri": "oci://gcr.io/proj/builder", "digest": {"sha256": "1" * 64}}
    run = taskrun(steps=[{"name": "compile", "imageID": IMG1}, {"name": "push", "imageID": IMG1}])
    assert build_def(statement(fmt, run))["resolvedDependencies"] == [image]
    as_task = taskrun(steps=[{"name": "compile", "imageID": IMG1}], provenance={"refSource": image})
    assert build_def(statement(fmt, as_task))["resolvedDependencies"] == [{"name": "task", **image}]


@pytest.mark.parametrize("fmt", ["slsa/v2alpha3", "slsa/v2alpha4"])
def test_run_details(fmt: str) -> None:
    details = statement(fmt, taskrun(uid="1234-abcd"), **{"builder.id": "https://ci.example"})["predicate"][
        "runDetails"
    ]
    assert details["builder"] == {"id": "https://ci.example"}
    assert details["metadata"] == {
        "invocationId": "1234-abcd",
        "startedOn": "2024-05-01T10:00:00Z",
        "finishedOn": "2024-05-01T10:05:00Z",
    }
    assert "byproducts" not in details


def test_v2alpha3_byproducts_are_every_result_as_go_json() -> None:
    run = taskrun(results_=results(IMAGE_URL="gcr.io/x\n", note="a<b", obj={"k": "v", "a": "b"}))
    byproducts = statement("slsa/v2alpha3", run)["predicate"]["runDetails"]["byproducts"]
    assert [b["name"] for b in byproducts] == [
        "taskRunResults/IMAGE_URL",
        "taskRunResults/note",
        "taskRunResults/obj",
    ]
    assert [decoded(b) for b in byproducts] == [b'"gcr.io/x\\n"', b'"a\\u003cb"', b'{"a":"b","k":"v"}']


def test_v2alpha4_byproducts_skip_subjects_and_name_the_run() -> None:
    run = taskrun(
        results_=results(IMAGE_URL="gcr.io/x", IMAGE_DIGEST=D1, IMAGES=f"gcr.io/y@{D2}", commit=COMMIT)
    )
    run["status"]["steps"][0]["results"] = results(report="ok")
    byproducts = statement("slsa/v2alpha4", run)["predicate"]["runDetails"]["byproducts"]
    assert [b["name"] for b in byproducts] == ["taskRunResults/build/commit", "taskRunResults/build/report"]
    assert json.loads(decoded(byproducts[1])) == "ok"


def pipeline_and_children() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pr = pipelinerun(
        tasks=[
            {"name": "clone", "taskRef": REMOTE_REF},
            {"name": "build", "taskSpec": {"steps": [{"name": "s"}]}},
        ],
        results_=results(IMAGE_URL="gcr.io/proj/app", IMAGE_DIGEST=D1, note="done"),
        pipeline_ref={"resolver": "bundles", "params": [{"name": "bundle", "value": "gcr.io/p/b"}]},
        provenance={
            "refSource": {"uri": "gcr.io/p/b", "digest": {"sha256": "e" * 64}, "entryPoint": "release"}
        },
    )
    children = [
        child(
            "release-clone",
            "clone",
            provenance={"refSource": REF_SOURCE},
            results_=results(**{"CHAINS-GIT_URL": "https://github.com/org/app", "CHAINS-GIT_COMMIT": COMMIT}),
        ),
        child(
            "release-build",
            "build",
            results_=results(
                **{
                    "bin-ARTIFACT_OUTPUTS": {
                        "uri": "gcr.io/proj/bin",
                        "digest": D2,
                        "isBuildArtifact": "true",
                    },
                    "log": "built",
                }
            ),
        ),
    ]
    return pr, children


@pytest.mark.parametrize("fmt", ["slsa/v2alpha3", "slsa/v2alpha4"])
def test_pipelinerun_dependencies(fmt: str) -> None:
    pr, children = pipeline_and_children()
    shallow = build_def(statement(fmt, pr, children))
    assert shallow["externalParameters"]["buildConfigSource"] == {
        "ref": "sha256:" + "e" * 64,
        "repository": "gcr.io/p/b",
        "path": "release",
    }
    names = [(d.get("name"), d["uri"]) for d in shallow["resolvedDependencies"]]
    assert names == [
        ("pipeline", "gcr.io/p/b"),
        ("pipelineTask", "git+https://github.com/org/catalog"),
        (None, "oci://gcr.io/proj/builder"),
        (None, "oci://gcr.io/proj/pusher"),
    ]
    deep = build_def(statement(fmt, pr, children, **{"artifacts.pipelinerun.enable-deep-inspection": "true"}))
    assert deep["resolvedDependencies"][-1] == {
        "name": "inputs/result",
        "uri": "git+https://github.com/org/app.git",
        "digest": {"sha1": COMMIT},
    }


def test_pipelinerun_byproducts_and_subjects_per_format() -> None:
    pr, children = pipeline_and_children()
    deep = {"artifacts.pipelinerun.enable-deep-inspection": "true"}
    v3 = statement("slsa/v2alpha3", pr, children, **deep)
    assert [b["name"] for b in v3["predicate"]["runDetails"]["byproducts"]] == [
        "pipelineRunResults/IMAGE_URL",
        "pipelineRunResults/IMAGE_DIGEST",
        "pipelineRunResults/note",
    ]
    assert [s["name"] for s in v3["subject"]] == ["gcr.io/proj/bin", "gcr.io/proj/app"]
    v4 = statement("slsa/v2alpha4", pr, children, **deep)
    assert [b["name"] for b in v4["predicate"]["runDetails"]["byproducts"]] == [
        "pipelineRunResults/release/note",
        "taskRunResults/release-clone/CHAINS-GIT_URL",
        "taskRunResults/release-clone/CHAINS-GIT_COMMIT",
        "taskRunResults/release-build/log",
    ]
    assert [s["name"] for s in v4["subject"]] == ["gcr.io/proj/bin", "gcr.io/proj/app"]
    shallow = statement("slsa/v2alpha4", pr, children)
    assert [s["name"] for s in shallow["subject"]] == ["gcr.io/proj/app"]


def test_slsa_tekton_records_each_child_taskrun() -> None:
    pr, children = pipeline_and_children()
    deps = build_def(statement("slsa/v2alpha3", pr, children, **{"builddefinition.buildtype": TEKTON_BT}))
    tasks = [d for d in deps["resolvedDependencies"] if d.get("name") == "pipelineTask"]
    stored = [json.loads(base64.b64decode(d["content"])) for d in tasks]
    assert [s["metadata"]["name"] for s in stored] == ["release-clone", "release-build"]
    assert tasks[0]["uri"] == REF_SOURCE["uri"]
    assert "uri" not in tasks[1]
