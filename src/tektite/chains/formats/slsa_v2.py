"""``slsa/v2alpha3`` and ``slsa/v2alpha4``: an in-toto v1 statement with a SLSA v1.0 predicate.

Chains builds these from the in-toto attestation protobufs and writes them with ``protojson``:
empty strings, lists and maps are left out, ``externalParameters``/``internalParameters`` are
always present (``{}`` when empty), byproduct ``content`` is base64 of Go's JSON of the result
value. The two versions differ in how they split outputs:

- v2alpha3: every output type hint is a subject; every result is a byproduct
  (``taskRunResults/<result>``, ``pipelineRunResults/<result>``).
- v2alpha4: subjects are images and ``*ARTIFACT_OUTPUTS`` marked ``isBuildArtifact``, also read from
  StepAction (step) results; the other results are byproducts named ``taskRunResults/<run>/<result>``
  and ``pipelineRunResults/<run>/<result>``; only the ``https://tekton.dev/chains/v2/slsa`` build type.
"""

from __future__ import annotations

import base64
from typing import Any

from tektite.chains.formats.artifacts import Artifact, is_subject_hint
from tektite.chains.formats.common import SLSA_BUILD_TYPE, TEKTON_BUILD_TYPE, SlsaConfig, subject_list
from tektite.chains.formats.extract import (
    subject_digests,
    subjects_from_build_artifacts,
    task_and_step_results,
)
from tektite.chains.formats.material import (
    pipeline_params_and_results,
    sidecar_image_materials,
    step_actions_results,
    step_image_materials,
    task_params_and_results,
)
from tektite.chains.formats.objects import PipelineRunObject, Result, RunObject, TaskRunObject, load_run
from tektite.core.gotypes.gojson import go_json_bytes
from tektite.core.gotypes.goschema import plain
from tektite.errors import FieldError, ValidationError

__all__ = ["SlsaV2Alpha3Formatter", "SlsaV2Alpha4Formatter"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
JSON_MEDIA_TYPE = "application/json"
FEATURE_FLAGS_KEY = "tekton-pipelines-feature-flags"


def _descriptor(
    name: str = "",
    uri: str = "",
    digest: dict[str, str] | None = None,
    content: bytes = b"",
    media_type: str = "",
) -> dict[str, Any]:
    """An in-toto ``ResourceDescriptor`` as protojson writes it (unset fields left out)."""
    rd: dict[str, Any] = {}
    if name:
        rd["name"] = name
    if uri:
        rd["uri"] = uri
    if digest:
        rd["digest"] = dict(digest)
    if content:
        rd["content"] = base64.b64encode(content).decode("ascii")
    if media_type:
        rd["mediaType"] = media_type
    return rd


def _from_materials(mats: list[Artifact], name: str = "") -> list[dict[str, Any]]:
    return [_descriptor(name, m.name, m.digest) for m in mats]


def _dedupe(rds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``removeDuplicateResolvedDependencies``: by uri+digest+content, keeping every task/pipeline entry."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for rd in rds:
        key = (rd.get("uri", ""), tuple(sorted((rd.get("digest") or {}).items())), rd.get("content", ""))
        if key in seen and rd.get("name") not in ("task", "pipeline"):
            continue
        seen.add(key)
        out.append(rd)
    return out


def _ref_descriptor(name: str, run: RunObject) -> list[dict[str, Any]]:
    src = run.ref_source
    if src is None:
        return []
    return [{"name": name, **_descriptor("", src.get("uri", ""), src.get("digest"))}]


def _task_descriptor(tr: TaskRunObject, build_type: str) -> list[dict[str, Any]]:
    """``AddSLSATaskDescriptor`` (remote task ref only) / ``AddTektonTaskDescriptor`` (the whole TaskRun)."""
    if build_type == TEKTON_BUILD_TYPE:
        src = tr.ref_source or {}
        return [_descriptor("pipelineTask", src.get("uri", ""), src.get("digest"), go_json_bytes(tr.data))]
    return _ref_descriptor("pipelineTask", tr)


def _taskrun_dependencies(tr: TaskRunObject, with_step_actions: bool) -> list[dict[str, Any]]:
    rds = _ref_descriptor("task", tr)
    rds += _from_materials(step_image_materials(tr) + sidecar_image_materials(tr))
    inputs = task_params_and_results(tr)
    if with_step_actions:
        inputs += step_actions_results(tr)
    rds += _from_materials(inputs, "inputs/result")
    return _dedupe(rds)


def _pipelinerun_dependencies(
    pr: PipelineRunObject, cfg: SlsaConfig, build_type: str, with_step_actions: bool
) -> list[dict[str, Any]]:
    rds = _ref_descriptor("pipeline", pr)
    for task in pr.pipeline_tasks():
        for tr in pr.task_runs_from_task(task.get("name", "")):
            if tr.completion_time is None:
                continue
            rds += _task_descriptor(tr, build_type)
            rds += _from_materials(step_image_materials(tr) + sidecar_image_materials(tr))
    mats = pipeline_params_and_results(pr, cfg.deep_inspection, with_step_actions)
    rds += _from_materials(mats, "inputs/result")
    return _dedupe(rds)


def _external_parameters(run: TaskRunObject | PipelineRunObject) -> dict[str, Any]:
    params: dict[str, Any] = {}
    src = run.ref_source
    if src is not None and run.is_remote():
        digest = src.get("digest") or {}
        ref = next((f"{alg}:{hexdigest}" for alg, hexdigest in digest.items()), "")
        params["buildConfigSource"] = {
            "ref": ref,
            "repository": src.get("uri", ""),
            "path": src.get("entryPoint", ""),
        }
    params["runSpec"] = run.spec.plain()
    return params


def _internal_parameters(run: RunObject, build_type: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    prov = run.provenance
    flags = prov.get("featureFlags") if prov is not None else None
    if flags is not None:
        params[FEATURE_FLAGS_KEY] = plain(flags)
    if build_type == TEKTON_BUILD_TYPE:
        params["labels"] = run.labels
        params["annotations"] = run.annotations
    return params


def _metadata(run: RunObject) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if run.uid:
        meta["invocationId"] = run.uid
    if (start := run.start_text) is not None:  # to the second: protojson writes no fraction either
        meta["startedOn"] = start
    if (end := run.completion_text) is not None:
        meta["finishedOn"] = end
    return meta


def _statement(
    run: TaskRunObject | PipelineRunObject,
    cfg: SlsaConfig,
    subjects: list[Artifact],
    build_type: str,
    dependencies: list[dict[str, Any]],
    byproducts: list[dict[str, Any]],
) -> dict[str, Any]:
    build_definition: dict[str, Any] = {
        "buildType": build_type,
        "externalParameters": _external_parameters(run),
        "internalParameters": _internal_parameters(run, build_type),
    }
    if dependencies:
        build_definition["resolvedDependencies"] = dependencies
    run_details: dict[str, Any] = {
        "builder": {"id": cfg.builder_id} if cfg.builder_id else {},
        "metadata": _metadata(run),
    }
    if byproducts:
        run_details["byproducts"] = byproducts
    statement: dict[str, Any] = {"_type": STATEMENT_TYPE}
    if subjects:
        statement["subject"] = subject_list(subjects)
    statement["predicateType"] = PREDICATE_TYPE
    statement["predicate"] = {"buildDefinition": build_definition, "runDetails": run_details}
    return statement


def _result_byproducts(results: list[Result], name_format: str) -> list[dict[str, Any]]:
    return [
        _descriptor(name_format.format(r.name), content=go_json_bytes(r.value), media_type=JSON_MEDIA_TYPE)
        for r in results
    ]


def _check_build_type(build_type: str) -> str:
    build_type = build_type or SLSA_BUILD_TYPE
    if build_type not in (SLSA_BUILD_TYPE, TEKTON_BUILD_TYPE):
        raise ValidationError(
            [
                FieldError(
                    ("builddefinition.buildtype",),
                    "unsupported buildType",
                    f"{SLSA_BUILD_TYPE} or {TEKTON_BUILD_TYPE}",
                    repr(build_type),
                )
            ],
            obj="chains-config",
        )
    return build_type


class SlsaV2Alpha3Formatter:
    """``slsa/v2alpha3``: SLSA v1.0 from tekton.dev/v1 runs, either build type."""

    name = "slsa/v2alpha3"

    def format(
        self, run: dict[str, Any], config: Any, child_taskruns: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        cfg = SlsaConfig.from_config(config)
        build_type = _check_build_type(cfg.build_type)
        obj = load_run(run, child_taskruns)
        subjects = subject_digests(obj, cfg.deep_inspection)
        if isinstance(obj, TaskRunObject):
            deps = _taskrun_dependencies(obj, with_step_actions=False)
            byproducts = _result_byproducts(obj.results(), "taskRunResults/{}")
        else:
            deps = _pipelinerun_dependencies(obj, cfg, build_type, with_step_actions=False)
            byproducts = _result_byproducts(obj.results(), "pipelineRunResults/{}")
        return _statement(obj, cfg, subjects, build_type, deps, byproducts)


def _v2alpha4_byproducts(results: list[Result], prefix: str, run_name: str) -> list[dict[str, Any]]:
    kept = [r for r in results if not is_subject_hint(r)]
    return _result_byproducts(kept, prefix + "/" + run_name.replace("{", "{{").replace("}", "}}") + "/{}")


class SlsaV2Alpha4Formatter:
    """``slsa/v2alpha4``: like v2alpha3, plus ``isBuildArtifact`` and StepAction results."""

    name = "slsa/v2alpha4"

    def format(
        self, run: dict[str, Any], config: Any, child_taskruns: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        cfg = SlsaConfig.from_config(config)
        obj = load_run(run, child_taskruns)
        if isinstance(obj, TaskRunObject):
            results = task_and_step_results(obj)
            subjects = subjects_from_build_artifacts(results)
            deps = _taskrun_dependencies(obj, with_step_actions=True)
            byproducts = _v2alpha4_byproducts(results, "taskRunResults", obj.name)
        else:
            results = obj.results()
            byproducts = _v2alpha4_byproducts(results, "pipelineRunResults", obj.name)
            if cfg.deep_inspection:
                for tr in obj.executed_tasks():
                    child_results = task_and_step_results(tr)
                    results = results + child_results
                    byproducts += _v2alpha4_byproducts(child_results, "taskRunResults", tr.name)
            subjects = subjects_from_build_artifacts(results)
            deps = _pipelinerun_dependencies(obj, cfg, SLSA_BUILD_TYPE, with_step_actions=True)
        return _statement(obj, cfg, subjects, SLSA_BUILD_TYPE, deps, byproducts)
