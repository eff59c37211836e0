"""Outputs of a build (the statement's ``subject``): Chains' ``formats/slsa/extract``.

``subject_digests`` is what ``in-toto``/``slsa/v1`` and ``slsa/v2alpha3`` use; it reads every
output type hint. ``subjects_from_build_artifacts`` is ``slsa/v2alpha4``'s: images, plus only the
``*ARTIFACT_OUTPUTS`` objects marked ``isBuildArtifact``.
"""

from __future__ import annotations

from tektite.chains.formats.artifacts import (
    ARTIFACTS_OUTPUTS,
    Artifact,
    append_artifacts,
    build_artifacts,
    oci_images,
    signable_targets,
    structured_targets,
)
from tektite.chains.formats.objects import PipelineRunObject, Result, RunObject, TaskRunObject

__all__ = ["subject_digests", "subjects_from_build_artifacts", "task_and_step_results"]


def _from_results(results: list[Result]) -> list[Artifact]:
    """``subjectsFromTektonObject``: OCI images, then ``*ARTIFACT_URI`` pairs, then ``*ARTIFACT_OUTPUTS``."""
    subjects: list[Artifact] = []
    for image in oci_images(results):
        subjects = append_artifacts(
            subjects, Artifact(image.repository_name, {"sha256": image.digest.removeprefix("sha256:")})
        )
    for target in signable_targets(results):
        alg, hexdigest = target.digest.split(":")
        subjects = append_artifacts(subjects, Artifact(target.uri, {alg: hexdigest}))
    for target in structured_targets(results, ARTIFACTS_OUTPUTS):
        alg, hexdigest = target.digest.split(":")
        subjects = append_artifacts(subjects, Artifact(target.uri, {alg: hexdigest}))
    return subjects


def subject_digests(run: RunObject, deep_inspection: bool) -> list[Artifact]:
    """``extract.SubjectDigests``; with deep inspection a PipelineRun's children come first."""
    own = _from_results(run.results())
    if not isinstance(run, PipelineRunObject) or not deep_inspection:
        return own
    subjects: list[Artifact] = []
    if run.pipeline_spec is not None:
        for tr in run.executed_tasks():
            subjects = append_artifacts(subjects, *_from_results(tr.results()))
    return append_artifacts(subjects, *own)


def subjects_from_build_artifacts(results: list[Result]) -> list[Artifact]:
    """``extract.SubjectsFromBuildArtifact``: build artifacts first, then OCI images."""
    subjects: list[Artifact] = []
    for target in build_artifacts(results):
        parts = target.digest.split(":")
        if len(parts) != 2:
            continue
        subjects = append_artifacts(subjects, Artifact(target.uri, {parts[0]: parts[1]}))
    for image in oci_images(results):
        subjects = append_artifacts(
            subjects, Artifact(image.repository_name, {"sha256": image.digest.removeprefix("sha256:")})
        )
    return subjects


def task_and_step_results(tr: TaskRunObject) -> list[Result]:
    """A TaskRun's results followed by its steps' (StepAction) results, as ``slsa/v2alpha4`` reads them."""
    return tr.results() + tr.step_results()
