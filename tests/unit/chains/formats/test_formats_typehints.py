"""Type hinting: which results become subjects and which become inputs, per format."""

from __future__ import annotations

from typing import Any

import pytest
from chains_format_runs import COMMIT, D1, D2, D3, results, taskrun

from tektite.chains.formats import format_run
from tektite.chains.formats.artifacts import Artifact, append_artifacts
from tektite.chains.formats.material import spdx_git


def subjects(statement: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(s["name"], s["digest"]) for s in statement.get("subject") or []]


def v1_inputs(statement: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [
        (m["uri"], m["digest"])
        for m in statement["predicate"].get("materials", [])
        if "oci://" not in m["uri"]
    ]


def v2_inputs(statement: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    deps = statement["predicate"]["buildDefinition"].get("resolvedDependencies", [])
    return [(d["uri"], d["digest"]) for d in deps if d.get("name") == "inputs/result"]


@pytest.mark.parametrize("fmt", ["in-toto", "slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4"])
def test_image_url_and_digest_with_a_common_prefix(fmt: str) -> None:
    run = taskrun(
        results_=results(**{"first-image-IMAGE_URL": "gcr.io/foo/bar\n", "first-image-IMAGE_DIGEST": D1})
    )
    assert subjects(format_run(fmt, run, {})) == [("gcr.io/foo/bar", {"sha256": D1[7:]})]


@pytest.mark.parametrize("fmt", ["slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4"])
def test_half_a_pair_or_a_bad_digest_is_not_a_subject(fmt: str) -> None:
    run = taskrun(
        results_=results(
            **{
                "a-IMAGE_URL": "gcr.io/foo/a",
                "b-IMAGE_DIGEST": D1,
                "c-IMAGE_URL": "gcr.io/c",
                "c-IMAGE_DIGEST": "sha256:1",
            }
        )
    )
    assert subjects(format_run(fmt, run, {})) == []


@pytest.mark.parametrize("fmt", ["slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4"])
def test_images_list_by_comma_or_newline(fmt: str) -> None:
    listing = f"gcr.io/one@{D1}, busybox@{D2}\nnot-a-digest\n\ngcr.io/three:v1@{D3},"
    run = taskrun(results_=results(IMAGES=listing))
    assert subjects(format_run(fmt, run, {})) == [
        ("gcr.io/one", {"sha256": D1[7:]}),
        ("index.docker.io/library/busybox", {"sha256": D2[7:]}),
        ("gcr.io/three", {"sha256": D3[7:]}),
    ]


def test_artifact_uri_and_digest_any_algorithm_before_v2alpha4() -> None:
    run = taskrun(
        results_=results(**{"pkg-ARTIFACT_URI": "pkg:npm/x@1", "pkg-ARTIFACT_DIGEST": "sha1:" + COMMIT})
    )
    for fmt in ("slsa/v1", "slsa/v2alpha3"):
        assert subjects(format_run(fmt, run, {})) == [("pkg:npm/x@1", {"sha1": COMMIT})]
    assert subjects(format_run("slsa/v2alpha4", run, {})) == []


def test_artifact_outputs_objects_and_is_build_artifact() -> None:
    run = taskrun(
        results_=results(
            **{
                "plain-ARTIFACT_OUTPUTS": {"uri": "gcr.io/plain", "digest": D1},
                "built-ARTIFACT_OUTPUTS": {"uri": "gcr.io/built", "digest": D2, "isBuildArtifact": "true"},
                "broken-ARTIFACT_OUTPUTS": {
                    "uri": "gcr.io/broken",
                    "digest": "sha256:x",
                    "isBuildArtifact": "true",
                },
                "nouri-ARTIFACT_OUTPUTS": {"digest": D3},
            }
        )
    )
    assert subjects(format_run("slsa/v2alpha3", run, {})) == [
        ("gcr.io/plain", {"sha256": D1[7:]}),
        ("gcr.io/built", {"sha256": D2[7:]}),
    ]
    v2alpha4 = format_run("slsa/v2alpha4", run, {})
    assert subjects(v2alpha4) == [("gcr.io/built", {"sha256": D2[7:]})]
    names = [b["name"] for b in v2alpha4["predicate"]["runDetails"]["byproducts"]]
    assert names == [
        "taskRunResults/build/plain-ARTIFACT_OUTPUTS",
        "taskRunResults/build/nouri-ARTIFACT_OUTPUTS",
    ]


def test_v2alpha4_puts_build_artifacts_before_images() -> None:
    run = taskrun(
        results_=results(
            **{
                "IMAGE_URL": "gcr.io/img",
                "IMAGE_DIGEST": D1,
                "x-ARTIFACT_OUTPUTS": {"uri": "gcr.io/x", "digest": D2, "isBuildArtifact": "true"},
            }
        )
    )
    assert [n for n, _ in subjects(format_run("slsa/v2alpha4", run, {}))] == ["gcr.io/x", "gcr.io/img"]
    assert [n for n, _ in subjects(format_run("slsa/v2alpha3", run, {}))] == ["gcr.io/img", "gcr.io/x"]


def test_same_subject_twice_is_listed_once() -> None:
    run = taskrun(
        results_=results(
            IMAGE_URL="gcr.io/app",
            IMAGE_DIGEST=D1,
            IMAGES=f"gcr.io/app@{D1}",
            **{"o-ARTIFACT_OUTPUTS": {"uri": "gcr.io/app", "digest": D1}},
        )
    )
    assert subjects(format_run("slsa/v1", run, {})) == [("gcr.io/app", {"sha256": D1[7:]})]


def test_merging_digest_sets() -> None:
    merged = append_artifacts(
        [Artifact("a", {"sha256": "1"})],
        Artifact("a", {"sha256": "1", "sha512": "2"}),
        Artifact("a", {"sha256": "9"}),
    )
    assert merged == [Artifact("a", {"sha256": "1", "sha512": "2"}), Artifact("a", {"sha256": "9"})]


def test_artifact_inputs_become_inputs() -> None:
    run = taskrun(
        results_=results(
            **{
                "src-ARTIFACT_INPUTS": {"uri": "https://github.com/org/repo", "digest": "sha1:" + COMMIT},
                "bad-ARTIFACT_INPUTS": {"uri": "x", "digest": "sha1:zz"},
            }
        )
    )
    expected = [("https://github.com/org/repo", {"sha1": COMMIT})]
    assert v1_inputs(format_run("slsa/v1", run, {})) == expected
    assert v2_inputs(format_run("slsa/v2alpha3", run, {})) == expected


def test_git_url_and_commit_priority_defaults_then_params_then_results() -> None:
    specs = [
        {"name": "CHAINS-GIT_URL", "type": "string", "default": "https://default.example/repo"},
        {"name": "CHAINS-GIT_COMMIT", "type": "string", "default": "d" * 40},
    ]
    only_defaults = taskrun(param_specs=specs)
    assert v1_inputs(format_run("slsa/v1", only_defaults, {})) == [
        ("git+https://default.example/repo.git", {"sha1": "d" * 40})
    ]
    with_params = taskrun(param_specs=specs, params=[{"name": "CHAINS-GIT_COMMIT", "value": "p" * 40}])
    assert v1_inputs(format_run("slsa/v1", with_params, {})) == [
        ("git+https://default.example/repo.git", {"sha1": "p" * 40})
    ]
    with_results = taskrun(
        param_specs=specs,
        params=[{"name": "CHAINS-GIT_COMMIT", "value": "p" * 40}],
        results_=results(**{"CHAINS-GIT_URL": "git+https://r.example/x.git", "CHAINS-GIT_COMMIT": COMMIT}),
    )
    assert v2_inputs(format_run("slsa/v2alpha3", with_results, {})) == [
        ("git+https://r.example/x.git", {"sha1": COMMIT})
    ]


def test_spdx_git_urls() -> None:
    assert spdx_git("https://github.com/org/repo") == "git+https://github.com/org/repo.git"
    assert spdx_git("git+https://github.com/org/repo.git") == "git+https://github.com/org/repo.git"
    assert spdx_git("https://github.com/org/repo", "abc") == "git+https://github.com/org/repo.git@abc"


def test_stepaction_results_are_read_by_v2alpha4_only() -> None:
    steps = [
        {
            "name": "fetch",
            "container": "step-fetch",
            "imageID": "gcr.io/f@" + D1,
            "results": results(
                **{"src-ARTIFACT_INPUTS": {"uri": "https://github.com/o/r", "digest": "sha1:" + COMMIT}}
            ),
        },
        {
            "name": "build",
            "container": "step-build",
            "imageID": "gcr.io/b@" + D1,
            "results": results(
                **{
                    "img-ARTIFACT_OUTPUTS": {"uri": "gcr.io/out", "digest": D2, "isBuildArtifact": "true"},
                    "second-IMAGE_URL": "gcr.io/second",
                    "second-IMAGE_DIGEST": D3,
                }
            ),
        },
    ]
    run = taskrun(
        steps=steps,
        spec_steps=[
            {"name": "fetch", "ref": {"name": "git-clone"}},
            {"name": "build", "ref": {"name": "img-builder"}},
        ],
    )
    v4 = format_run("slsa/v2alpha4", run, {})
    assert subjects(v4) == [("gcr.io/out", {"sha256": D2[7:]}), ("gcr.io/second", {"sha256": D3[7:]})]
    assert v2_inputs(v4) == [("https://github.com/o/r", {"sha1": COMMIT})]
    v3 = format_run("slsa/v2alpha3", run, {})
    assert subjects(v3) == []
    assert v2_inputs(v3) == []
