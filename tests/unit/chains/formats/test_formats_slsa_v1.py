"""in-toto / slsa/v1: SLSA v0.2 provenance for TaskRuns and PipelineRuns."""

from __future__ import annotations

from typing import Any

import pytest
from chains_format_runs import COMMIT, D1, D2, IMG1, IMG2, child, pipelinerun, results, taskrun

from tektite.chains.formats import format_run
from tektite.errors import ValidationError


def predicate(
    run: dict[str, Any], children: list[dict[str, Any]] | None = None, **cfg: str
) -> dict[str, Any]:
    statement = format_run("in-toto", run, cfg, children or [])
    assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v0.2"
    return statement["predicate"]


def test_taskrun_header_builder_and_build_type() -> None:
    p = predicate(taskrun(), **{"builder.id": "https://ci.example/b"})
    assert p["builder"] == {"id": "https://ci.example/b"}
    assert p["buildType"] == "tekton.dev/v1/TaskRun"


def test_nothing_built_means_null_subject_and_no_materials() -> None:
    statement = format_run("slsa/v1", taskrun(steps=[], spec_steps=[]), {})
    assert statement["subject"] is None
    assert "materials" not in statement["predicate"]
    assert statement["predicate"]["buildConfig"] == {"steps": []}


def test_invocation_parameters_config_source_and_environment() -> None:
    run = taskrun(
        params=[{"name": "IMAGE", "value": "gcr.io/x"}, {"name": "flags", "value": ["-v"]}],
        param_specs=[
            {"name": "IMAGE", "type": "string", "default": "gcr.io/default"},
            {"name": "mode", "type": "string", "default": "fast"},
            {"name": "nodefault", "type": "string"},
        ],
        labels={"app": "demo"},
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "chains.tekton.dev/signed": "true",
            "team": "core",
        },
        provenance={
            "refSource": {
                "uri": "git+https://github.com/org/catalog",
                "digest": {"sha1": COMMIT},
                "entryPoint": "task/build.yaml",
            }
        },
    )
    invocation = predicate(run)["invocation"]
    assert invocation["configSource"] == {
        "uri": "git+https://github.com/org/catalog",
        "digest": {"sha1": COMMIT},
        "entryPoint": "task/build.yaml",
    }
    assert invocation["parameters"] == {"IMAGE": "gcr.io/x", "mode": "fast", "flags": ["-v"]}
    assert invocation["environment"] == {"annotations": {"team": "core"}, "labels": {"app": "demo"}}
    bare = predicate(taskrun())["invocation"]
    assert bare == {"configSource": {}, "parameters": {}}


def test_build_config_steps_record_what_ran() -> None:
    run = taskrun(
        steps=[
            {"name": "compile", "container": "step-compile", "imageID": IMG1},
            {"name": "ghost", "container": "step-ghost", "imageID": IMG2},
            {"name": "push", "container": "step-push", "imageID": IMG2},
        ]
    )
    steps = predicate(run)["buildConfig"]["steps"]
    assert steps == [
        {
            "entryPoint": "make",
            "arguments": None,
            "annotations": None,
            "environment": {
                "container": "compile",
                "image": "oci://" + IMG1.removeprefix("docker-pullable://"),
            },
        },
        {
            "entryPoint": "crane push",
            "arguments": ["a", "b"],
            "annotations": None,
            "environment": {"container": "push", "image": "oci://" + IMG2},
        },
    ]


def test_metadata_times_and_reproducible_label() -> None:
    meta = predicate(taskrun(labels={"chains.tekton.dev/reproducible": "true"}))["metadata"]
    assert meta == {
        "buildStartedOn": "2024-05-01T10:00:00Z",
        "buildFinishedOn": "2024-05-01T10:05:00Z",
        "completeness": {"parameters": False, "environment": False, "materials": False},
        "reproducible": True,
    }
    unfinished = predicate(taskrun(completed=False))["metadata"]
    assert "buildFinishedOn" not in unfinished
    assert unfinished["reproducible"] is False


def test_materials_are_step_and_sidecar_images_then_sources_without_repeats() -> None:
    run = taskrun(
        steps=[{"name": "compile", "imageID": IMG1}, {"name": "push", "imageID": IMG1}],
        sidecars=[{"name": "docker", "imageID": "docker.io/library/docker@" + D2}],
        params=[
            {"name": "CHAINS-GIT_URL", "value": "https://github.com/org/app"},
            {"name": "CHAINS-GIT_COMMIT", "value": COMMIT},
        ],
    )
    assert predicate(run)["materials"] == [
        {"uri": "oci://gcr.io/proj/builder", "digest": {"sha256": "1" * 64}},
        {"uri": "oci://docker.io/library/docker", "digest": {"sha256": D2[7:]}},
        {"uri": "git+https://github.com/org/app.git", "digest": {"sha1": COMMIT}},
    ]


def test_an_image_without_digest_is_an_error_that_says_where() -> None:
    run = taskrun(steps=[{"name": "compile", "imageID": "gcr.io/proj/builder:latest"}])
    with pytest.raises(ValidationError) as err:
        format_run("slsa/v1", run, {})
    assert "status.steps[0].imageID" in str(err.value)
    assert "gcr.io/proj/builder:latest" in str(err.value)


def test_kind_is_told_from_the_fields_when_missing() -> None:
    run = taskrun()
    del run["kind"], run["apiVersion"]
    assert predicate(run)["buildType"] == "tekton.dev/v1/TaskRun"
    pr = pipelinerun()
    del pr["kind"]
    assert predicate(pr)["buildType"] == "tekton.dev/v1/PipelineRun"
    with pytest.raises(ValidationError, match="TaskRun or a PipelineRun"):
        format_run("slsa/v1", {"metadata": {"name": "x"}}, {})


def pipeline_with_children() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pr = pipelinerun(
        tasks=[
            {"name": "clone", "taskRef": {"name": "git-clone", "kind": "Task"}},
            {
                "name": "build",
                "taskRef": {"name": "buildah"},
                "runAfter": ["clone"],
                "params": [
                    {"name": "rev", "value": "$(tasks.clone.results.commit)"},
                    {"name": "other", "value": "$(tasks.scan.results.report[*])"},
                ],
            },
            {"name": "skipped", "taskRef": {"name": "never"}},
        ],
        finally_=[{"name": "notify", "taskSpec": {"steps": [{"name": "send"}]}}],
        results_=results(IMAGE_URL="gcr.io/proj/app", IMAGE_DIGEST=D1),
        params=[{"name": "CHAINS-GIT_URL", "value": "https://github.com/org/app"}],
        param_specs=[{"name": "CHAINS-GIT_COMMIT", "type": "string", "default": COMMIT}],
        provenance={
            "refSource": {"uri": "git+https://github.com/org/pipelines", "digest": {"sha1": "f" * 40}}
        },
    )
    children = [
        child(
            "release-build",
            "build",
            results_=results(**{"lib-IMAGE_URL": "gcr.io/proj/lib", "lib-IMAGE_DIGEST": D2}),
            provenance={
                "refSource": {"uri": "git+https://github.com/org/catalog", "digest": {"sha1": "c" * 40}}
            },
        ),
        child(
            "release-clone",
            "clone",
            steps=[{"name": "compile", "imageID": IMG2}],
            spec_steps=[{"name": "compile", "script": "git clone"}],
            results_=results(commit=COMMIT),
        ),
        child("release-notify", "notify", steps=[], spec_steps=[]),
        child("release-skipped", "skipped", completed=False),
    ]
    return pr, children


def test_pipelinerun_tasks_in_pipeline_order_with_after() -> None:
    pr, children = pipeline_with_children()
    tasks = predicate(pr, children)["buildConfig"]["tasks"]
    assert [t["name"] for t in tasks] == ["clone", "build", "notify"]
    clone, build, notify = tasks
    assert "after" not in clone
    assert build["after"] == ["clone", "scan"]
    assert notify["after"] == ["build"]
    assert clone["ref"] == {"name": "git-clone", "kind": "Task"}
    assert notify["ref"] == {}
    assert build["serviceAccountName"] == "builder"
    assert build["status"] == "Succeeded"
    assert clone["startedOn"] == "2024-05-01T10:00:00Z"
    assert clone["steps"][0]["entryPoint"] == "git clone"
    assert clone["results"] == [{"name": "commit", "value": COMMIT}]
    assert "steps" not in notify
    assert build["invocation"]["environment"] == {"labels": {"tekton.dev/pipelineTask": "build"}}


def test_pipelinerun_materials_order() -> None:
    pr, children = pipeline_with_children()
    uris = [m["uri"] for m in predicate(pr, children)["materials"]]
    assert uris == [
        "git+https://github.com/org/pipelines",
        "oci://gcr.io/proj/pusher",  # clone's step
        "oci://gcr.io/proj/builder",  # build's steps
        "git+https://github.com/org/catalog",  # build's task definition
        "git+https://github.com/org/app.git",  # pipeline-level source
    ]


def test_pipelinerun_subjects_and_deep_inspection() -> None:
    pr, children = pipeline_with_children()
    shallow = format_run("slsa/v1", pr, {}, children)
    assert [s["name"] for s in shallow["subject"]] == ["gcr.io/proj/app"]
    deep = format_run("slsa/v1", pr, {"artifacts.pipelinerun.enable-deep-inspection": "true"}, children)
    assert [s["name"] for s in deep["subject"]] == ["gcr.io/proj/lib", "gcr.io/proj/app"]


def test_pipelinerun_without_pipeline_spec() -> None:
    pr = pipelinerun()
    del pr["status"]["pipelineSpec"]
    p = predicate(pr)
    assert p["buildConfig"] == {"tasks": None}
