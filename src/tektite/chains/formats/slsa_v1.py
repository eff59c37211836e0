"""``in-toto`` / ``slsa/v1``: an in-toto v0.1 statement with a SLSA v0.2 provenance predicate.

Chains writes it with ``encoding/json`` from in-toto-golang's structs, which decides the shape:
``"subject": null`` when nothing was built, ``"configSource": {}`` when the run has no
``refSource``, ``"arguments": null``/``"annotations": null`` on every step, ``materials`` left out
when empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tektite.chains.formats.artifacts import Artifact
from tektite.chains.formats.common import SlsaConfig, invocation_environment, subject_list
from tektite.chains.formats.extract import subject_digests
from tektite.chains.formats.material import (
    is_unpinned_uri,
    pipeline_params_and_results,
    remove_duplicates,
    sidecar_image_materials,
    step_image_materials,
    task_params_and_results,
)
from tektite.chains.formats.objects import PipelineRunObject, TaskRunObject, load_run
from tektite.core.gotypes.gojson import format_timestamp
from tektite.core.gotypes.goschema import plain

__all__ = ["SlsaV1Formatter"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v0.2"
REPRODUCIBLE_LABEL = "chains.tekton.dev/reproducible"
_EXPRESSION = re.compile(r"\$\(([^()]*)\)")
_STATUS_WORDS = {"False": "Failed", "True": "Succeeded", "Unknown": "Running"}


def _config_source(ref_source: Mapping[str, Any] | None) -> dict[str, Any]:
    """``slsa.ConfigSource``: uri, digest and entryPoint, each left out when empty."""
    if ref_source is None:
        return {}
    return {k: ref_source[k] for k in ("uri", "digest", "entryPoint") if ref_source.get(k)}


def _invocation(
    run: TaskRunObject | PipelineRunObject, params: list[dict[str, Any]], param_specs: list[dict[str, Any]]
) -> dict[str, Any]:
    """``attest.Invocation``: defaults from the spec, overridden by the params given."""
    parameters = {p["name"]: p["default"] for p in param_specs if "default" in p}
    parameters.update({p["name"]: p["value"] for p in params})
    invocation: dict[str, Any] = {"configSource": _config_source(run.ref_source), "parameters": parameters}
    environment = invocation_environment(run)
    if environment:
        invocation["environment"] = environment
    return invocation


def _step(step: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """``attest.Step``: the script (else the command) and the image that actually ran."""
    entry_point = step.get("script") or " ".join(step.get("command") or [])
    image_id = state.get("imageID", "")
    # tektite's unpinned image IDs (host://..., rootfs://...) are already URIs: written as recorded.
    image = image_id if is_unpinned_uri(image_id) else "oci://" + image_id.removeprefix("docker-pullable://")
    return {
        "entryPoint": entry_point,
        "arguments": step.get("args"),
        "environment": {"container": state.get("name", ""), "image": image},
        "annotations": None,
    }


def _metadata(run: TaskRunObject | PipelineRunObject) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if (start := run.start_text) is not None:
        meta["buildStartedOn"] = start
    if (end := run.completion_text) is not None:
        meta["buildFinishedOn"] = end
    meta["completeness"] = {"parameters": False, "environment": False, "materials": False}
    meta["reproducible"] = run.label(REPRODUCIBLE_LABEL) == "true"
    return meta


def _materials(mats: list[Artifact]) -> list[dict[str, Any]]:
    out = []
    for m in mats:
        material: dict[str, Any] = {}
        if m.name:
            material["uri"] = m.name
        if m.digest:
            material["digest"] = m.digest
        out.append(material)
    return out


def _statement(
    run: TaskRunObject | PipelineRunObject,
    cfg: SlsaConfig,
    build_config: dict[str, Any],
    invocation: dict[str, Any],
    mats: list[Artifact],
) -> dict[str, Any]:
    predicate: dict[str, Any] = {
        "builder": {"id": cfg.builder_id},
        "buildType": f"tekton.dev/v1/{run.kind}",
        "invocation": invocation,
        "buildConfig": build_config,
        "metadata": _metadata(run),
    }
    if mats:
        predicate["materials"] = _materials(mats)
    subjects = subject_list(subject_digests(run, cfg.deep_inspection))
    return {
        "_type": STATEMENT_TYPE,
        "predicateType": PREDICATE_TYPE,
        "subject": subjects or None,
        "predicate": predicate,
    }


def _taskrun(tr: TaskRunObject, cfg: SlsaConfig) -> dict[str, Any]:
    spec_steps: dict[str, Any] = {}  # by name, the first of a name (Chains' loop finds that one)
    for s in tr.task_spec_field("steps") or []:
        spec_steps.setdefault(s.get("name"), s)
    steps = []
    for state in tr.status.get("steps") or []:
        step = spec_steps.get(state.get("name", ""))
        if step is not None:
            steps.append(_step(step, state))
    mats = step_image_materials(tr) + sidecar_image_materials(tr) + task_params_and_results(tr)
    invocation = _invocation(tr, tr.spec.get("params") or [], tr.task_spec_field("params") or [])
    return _statement(tr, cfg, {"steps": steps}, invocation, remove_duplicates(mats))


def _result_refs(task: dict[str, Any]) -> list[str]:
    """``v1.PipelineTaskResultRefs``: pipeline tasks whose results a task's params or when use."""
    texts: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts.extend(v for v in value if isinstance(v, str))
        elif isinstance(value, dict):
            texts.extend(v for v in value.values() if isinstance(v, str))

    matrix = task.get("matrix") or {}
    params = [*(task.get("params") or []), *(matrix.get("params") or [])]
    params += [p for inc in matrix.get("include") or [] for p in inc.get("params") or []]
    for p in params:
        collect(p.get("value"))
    for when in task.get("when") or []:
        collect(when.get("input", ""))
        collect(when.get("values") or [])
    refs = []
    for text in texts:
        for expression in _EXPRESSION.findall(text):
            parts = expression.split(".")
            if len(parts) >= 4 and parts[0] in ("tasks", "finally") and parts[2] == "results":
                refs.append(parts[1])
    return refs


def _task_status(conditions: list[dict[str, Any]]) -> str:
    for c in conditions:
        if c.get("type") == "Succeeded" and c.get("status") in _STATUS_WORDS:
            return _STATUS_WORDS[c["status"]]
    return ""


def _pipeline_tasks(pr: PipelineRunObject) -> dict[str, Any]:
    spec = pr.pipeline_spec
    if spec is None:
        return {"tasks": None}
    regular = len(spec.get("tasks") or [])
    tasks: list[dict[str, Any]] = []
    last = ""
    for i, task in enumerate(pr.pipeline_tasks()):
        tr = pr.task_run_from_task(task.get("name", ""))
        if tr is None or tr.completion_time is None:
            continue
        spec_steps = tr.task_spec_field("steps") or []
        steps = [
            _step(spec_steps[j], state)
            for j, state in enumerate(tr.status.get("steps") or [])
            if j < len(spec_steps)
        ]
        after = list(task.get("runAfter") or [])
        for ref in _result_refs(task):
            if ref not in after:
                after.append(ref)
        if not after and i >= regular and last:
            after.append(last)
        entry: dict[str, Any] = {"name": task.get("name", "")} if task.get("name") else {}
        if after:
            entry["after"] = after
        entry["ref"] = plain(task.get("taskRef")) or {}
        start, end = tr.start_time, tr.completion_time
        entry["startedOn"] = format_timestamp(*start) if start else "0001-01-01T00:00:00Z"
        entry["finishedOn"] = format_timestamp(*end)
        if sa := (pr.spec.get("taskRunTemplate") or {}).get("serviceAccountName"):
            entry["serviceAccountName"] = sa
        if status := _task_status(tr.status.get("conditions") or []):
            entry["status"] = status
        if steps:
            entry["steps"] = steps
        entry["invocation"] = _invocation(tr, tr.spec.get("params") or [], tr.task_spec_field("params") or [])
        if results := tr.status.get("results"):
            entry["results"] = plain(results)
        tasks.append(entry)
        if i < regular:
            last = entry.get("name", "")
    return {"tasks": tasks}


def _pipelinerun(pr: PipelineRunObject, cfg: SlsaConfig) -> dict[str, Any]:
    mats: list[Artifact] = []
    if (src := pr.ref_source) is not None:
        mats.append(Artifact(src.get("uri", ""), dict(src.get("digest") or {})))
    if pr.pipeline_spec is not None:
        for task in pr.pipeline_tasks():
            tr = pr.task_run_from_task(task.get("name", ""))
            if tr is None or tr.completion_time is None:
                continue
            mats += step_image_materials(tr) + sidecar_image_materials(tr)
            if (tsrc := tr.ref_source) is not None:
                mats.append(Artifact(tsrc.get("uri", ""), dict(tsrc.get("digest") or {})))
    mats += pipeline_params_and_results(pr, cfg.deep_inspection)
    invocation = _invocation(pr, pr.spec.get("params") or [], (pr.pipeline_spec or {}).get("params") or [])
    return _statement(pr, cfg, _pipeline_tasks(pr), invocation, remove_duplicates(mats))


class SlsaV1Formatter:
    """Formatter for ``in-toto`` and its alias ``slsa/v1``."""

    name = "slsa/v1"

    def format(
        self, run: dict[str, Any], config: Any, child_taskruns: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        cfg = SlsaConfig.from_config(config)
        obj = load_run(run, child_taskruns)
        if isinstance(obj, TaskRunObject):
            return _taskrun(obj, cfg)
        return _pipelinerun(obj, cfg)
