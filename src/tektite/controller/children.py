"""Child runs of a PipelineRun: TaskRuns (and child PipelineRuns) with their params resolved,
workspaces mapped, timeouts computed and labels set, as Tekton's reconciler creates them."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from tektite.api.pipeline import PipelineSpec, PipelineTask
from tektite.controller import caches
from tektite.controller.config import Config
from tektite.controller.matrix import combinations, has_empty_array
from tektite.controller.pipelinerun_state import TaskState
from tektite.controller.taskrun import ON_ERROR_ANNOTATION
from tektite.core import cachebinding, dag
from tektite.core.conditions import child_name
from tektite.core.durations import DurationError, format_duration, parse_duration
from tektite.core.substitution import MISSING, Substituter, lookup_tree, references

JSON = dict[str, Any]
SKIP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class ChildError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def context(pr: JSON, pipeline_name: str) -> JSON:
    meta = pr["metadata"]
    return {
        "pipelineRun": {
            "name": meta["name"],
            "namespace": meta.get("namespace", "default"),
            "uid": meta.get("uid", ""),
        },
        "pipeline": {"name": pipeline_name},
    }


def missing_results(pt: PipelineTask, tree: JSON, states: dict[str, TaskState]) -> list[dag.ResultRef]:
    """Result references of ``pt`` whose producer has no such result (yet or ever)."""
    out = []
    for ref in dag.task_result_refs(pt):
        st = states.get(ref.task)
        if st is None:
            continue
        if ref.result not in st.results():
            out.append(ref)
    return out


def _task_tree(pt: PipelineTask, tree: JSON) -> JSON:
    t = dict(tree)
    t["context"] = {**tree["context"], "pipelineTask": {"retries": str(pt.retries or 0)}}
    return t


def matrix_params(
    pt: PipelineTask, tree: JSON
) -> tuple[list[tuple[str, list[str]]], list[tuple[str | None, list[tuple[str, Any]]]]]:
    sub = Substituter(_task_tree(pt, tree))
    params: list[tuple[str, list[str]]] = []
    for p in (pt.matrix.params if pt.matrix else None) or []:
        v = sub.value(p.value) if isinstance(p.value, str) else sub.apply(p.value)
        params.append((p.name, list(v) if isinstance(v, list) else [str(v)]))
    include = []
    for inc in (pt.matrix.include if pt.matrix else None) or []:
        include.append(
            (
                inc.name,
                [
                    (p.name, sub.value(p.value) if isinstance(p.value, str) else sub.apply(p.value))
                    for p in inc.params or []
                ],
            )
        )
    return params, include


def matrix_combos(pt: PipelineTask, tree: JSON) -> tuple[list[JSON], list[str | None]]:
    params, include = matrix_params(pt, tree)
    return combinations(params, include)


def matrix_has_empty_array(pt: PipelineTask, tree: JSON) -> bool:
    params, include = matrix_params(pt, tree)
    return has_empty_array(params) and not include


def _timeout(pr: JSON, pt: PipelineTask, is_finally: bool, config: Config, elapsed: float) -> str | None:
    spec = pr.get("spec") or {}
    for trs in spec.get("taskRunSpecs") or []:
        if trs.get("pipelineTaskName") == pt.name and trs.get("timeout"):
            return str(trs["timeout"])
    t = spec.get("timeouts") or {}

    def secs(v: Any) -> float | None:
        if v is None:
            return None
        try:
            return parse_duration(str(v))
        except DurationError:
            return None

    pipeline = secs(t.get("pipeline"))
    if pipeline is None:
        pipeline = config.default_timeout
    budget = secs(t.get("finally") if is_finally else t.get("tasks"))
    remaining: float | None
    if budget:
        remaining = max(budget - elapsed, 1.0) if not is_finally else budget
    elif pipeline:
        remaining = max(pipeline - elapsed, 1.0)
    else:
        remaining = None
    pt_timeout = secs(pt.timeout)
    if pt_timeout is not None and (remaining is None or pt_timeout < remaining or pt_timeout == 0):
        return pt.timeout
    if remaining is None:
        return "0s"
    return format_duration(round(remaining, 3))  # as Go writes a metav1.Duration: 59m59.848s


def _workspaces(pr: JSON, spec: PipelineSpec, pt: PipelineTask) -> list[JSON]:
    bindings = {w["name"]: w for w in (pr.get("spec") or {}).get("workspaces") or []}
    out: list[JSON] = []
    used = list(pt.workspaces or [])
    names = {w.name for w in used}
    if pt.task_spec is not None:  # propagated workspaces: referenced by the embedded spec
        text = pt.task_spec.model_dump(by_alias=True, exclude_none=True)
        for _, segs in references(text, root="workspaces"):
            w = segs[1] if len(segs) > 1 else None
            if isinstance(w, str) and w in bindings and w not in names:
                from tektite.api.params import WorkspacePipelineTaskBinding

                used.append(WorkspacePipelineTaskBinding(name=w))
                names.add(w)
    for wb in used:
        source = wb.workspace or wb.name
        binding = bindings.get(source)
        if binding is None:
            continue
        b = copy.deepcopy(binding)
        b["name"] = wb.name
        if "volumeClaimTemplate" in b:
            b.pop("volumeClaimTemplate")
            b["persistentVolumeClaim"] = {"claimName": claim_name(pr, source, binding["volumeClaimTemplate"])}
        elif cachebinding.is_cache(b):  # the run's one working copy of the cache (controller/caches.py)
            b.pop("csi")
            b["persistentVolumeClaim"] = {"claimName": claim_name(pr, source, cache_template(source))}
        sub = "/".join(s for s in (binding.get("subPath"), wb.sub_path) if s)
        if sub:
            b["subPath"] = sub
        else:
            b.pop("subPath", None)
        out.append(b)
    return out


def claim_name(pr: JSON, workspace: str, template: JSON) -> str:
    base = (template.get("metadata") or {}).get("name") or "pvc"
    h = hashlib.sha256(f"{pr['metadata'].get('uid', '')}/{workspace}".encode()).hexdigest()[:10]
    return f"{base}-{h}"


def cache_template(workspace: str) -> JSON:
    """What names the claim of a cache binding, as a volumeClaimTemplate names its claim."""
    return {"metadata": {"name": f"cache-{workspace}"}}


def claims_for(pr: JSON, caches_of: dict[str, caches.CacheSpec] | None = None) -> list[JSON]:
    """A PersistentVolumeClaim per volumeClaimTemplate binding, and per cache binding in
    ``caches_of`` (workspace -> cache, as substituted), owned by the PipelineRun."""
    out = []
    for w in (pr.get("spec") or {}).get("workspaces") or []:
        if "volumeClaimTemplate" in w:
            out.append(_claim(pr, w["name"], w["volumeClaimTemplate"] or {}))
        elif caches_of and w["name"] in caches_of:
            out.append(cache_claim(pr, w["name"], caches_of[w["name"]]))
    return out


def cache_claim(pr: JSON, workspace: str, cache: caches.CacheSpec) -> JSON:
    """The claim of a cache binding: its cache in annotations, for the engine to restore it."""
    claim = _claim(pr, workspace, cache_template(workspace))
    claim["metadata"]["annotations"] = {**cache.annotations(), caches.WORKSPACE_ANNOTATION: workspace}
    return claim


def _claim(pr: JSON, workspace: str, template: JSON) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim_name(pr, workspace, template),
            "namespace": pr["metadata"].get("namespace"),
            "labels": {"tekton.dev/pipelineRun": pr["metadata"]["name"]},
            "ownerReferences": [owner_ref(pr)],
        },
        "spec": template.get("spec") or {},
    }


def owner_ref(obj: JSON) -> JSON:
    return {
        "apiVersion": obj.get("apiVersion", "tekton.dev/v1"),
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"].get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _embedded_spec(pt: PipelineTask, tree: JSON, pt_values: dict[str, Any]) -> JSON:
    """Propagated params and results into an embedded taskSpec (pipeline values, overridden by the
    pipeline task's own params of the same name)."""
    assert pt.task_spec is not None
    spec = pt.task_spec.model_dump(by_alias=True, exclude_none=True)
    params = dict(tree["params"])
    for name, value in pt_values.items():
        if name in params:
            params[name] = value
    t = dict(_task_tree(pt, tree))
    t["params"] = params
    spec = Substituter(t, roots=("params",)).apply(spec)
    out: JSON = Substituter(t, roots=("tasks", "context")).apply(spec)
    return out


def runs_for(
    pr: JSON,
    spec: PipelineSpec,
    pt: PipelineTask,
    tree: JSON,
    *,
    is_finally: bool,
    config: Config,
    elapsed: float,
    finally_elapsed: float | None,
    pipeline_name: str,
) -> list[JSON]:
    """The child run objects for one pipeline task (several for a matrix)."""
    del finally_elapsed
    t = _task_tree(pt, tree)
    sub = Substituter(t)
    base_params = {
        p.name: (sub.value(p.value) if isinstance(p.value, str) else sub.apply(p.value))
        for p in pt.params or []
    }
    combos: list[JSON] = [{}]
    labels_: list[str | None] = [None]
    if pt.matrix is not None:
        combos, labels_ = matrix_combos(pt, tree)
        if len(combos) > config.max_matrix_combinations:
            raise ChildError(
                "PipelineValidationFailed",
                f'pipeline task "{pt.name}" has {len(combos)} matrix '
                f"combinations, more than the maximum of {config.max_matrix_combinations} "
                "(config-defaults default-max-matrix-combinations-count)",
            )
    out = []
    for i, combo in enumerate(combos):
        values = {**base_params, **combo}
        name = child_name(
            pr["metadata"]["name"], f"-{pt.name}-{i}" if pt.matrix is not None else f"-{pt.name}"
        )
        out.append(
            _child(
                pr,
                spec,
                pt,
                values,
                name,
                t,
                is_finally=is_finally,
                config=config,
                elapsed=elapsed,
                pipeline_name=pipeline_name,
                combo_label=labels_[i],
            )
        )
    return out


def _child(
    pr: JSON,
    spec: PipelineSpec,
    pt: PipelineTask,
    values: dict[str, Any],
    name: str,
    tree: JSON,
    *,
    is_finally: bool,
    config: Config,
    elapsed: float,
    pipeline_name: str,
    combo_label: str | None,
) -> JSON:
    meta = pr["metadata"]
    pr_spec = pr.get("spec") or {}
    labels = dict(meta.get("labels") or {})
    labels.update(
        {
            "tekton.dev/pipeline": pipeline_name,
            "tekton.dev/pipelineRun": meta["name"],
            "tekton.dev/pipelineRunUID": meta.get("uid", ""),
            "tekton.dev/pipelineTask": pt.name,
            "tekton.dev/memberOf": "finally" if is_finally else "tasks",
        }
    )
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in SKIP_ANNOTATIONS}
    if pt.on_error == "continue":
        annotations[ON_ERROR_ANNOTATION] = "continue"
    annotations["tekton.dev/pipelineTaskRetries"] = str(pt.retries or 0)
    if combo_label:
        annotations["tekton.dev/matrixName"] = combo_label
    params = [{"name": k, "value": v} for k, v in values.items()]
    child_spec: JSON = {}
    template = pr_spec.get("taskRunTemplate") or {}
    trs: JSON = next(
        (s for s in pr_spec.get("taskRunSpecs") or [] if s.get("pipelineTaskName") == pt.name), {}
    )
    api_version = "tekton.dev/v1"
    if is_custom(pt):
        kind, api_version = "CustomRun", "tekton.dev/v1beta1"
        if pt.task_ref is not None:
            ref = Substituter(tree).apply(pt.task_ref.dump())
            child_spec["customRef"] = {k: ref[k] for k in ("apiVersion", "kind", "name") if ref.get(k)}
        else:
            assert pt.task_spec is not None
            embedded = Substituter(tree, roots=("params",)).apply(
                pt.task_spec.model_dump(by_alias=True, exclude_none=True)
            )
            md = embedded.get("metadata") or {}
            labels.update(md.get("labels") or {})
            annotations.update(md.get("annotations") or {})
            child_spec["customSpec"] = {
                k: embedded[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in embedded
            }
        if params:
            child_spec["params"] = params
        sa = trs.get("serviceAccountName") or template.get("serviceAccountName")
        if sa:
            child_spec["serviceAccountName"] = sa
        if pt.retries:
            child_spec["retries"] = pt.retries
        timeout = _timeout(pr, pt, is_finally, config, elapsed)
        if timeout:
            child_spec["timeout"] = timeout
        ws = _workspaces(pr, spec, pt)
        if ws:
            child_spec["workspaces"] = ws
    elif pt.pipeline_ref is not None or pt.pipeline_spec is not None:
        kind = "PipelineRun"
        if pt.pipeline_ref is not None:
            child_spec["pipelineRef"] = Substituter(tree).apply(pt.pipeline_ref.dump())
        else:
            assert pt.pipeline_spec is not None
            child_spec["pipelineSpec"] = Substituter(tree, roots=("params",)).apply(
                pt.pipeline_spec.model_dump(by_alias=True, exclude_none=True)
            )
        if params:
            child_spec["params"] = params
        ws = _workspaces(pr, spec, pt)
        if ws:
            child_spec["workspaces"] = ws
        if template:
            child_spec["taskRunTemplate"] = copy.deepcopy(template)
    else:
        kind = "TaskRun"
        if pt.task_ref is not None:
            child_spec["taskRef"] = Substituter(tree).apply(pt.task_ref.dump())
            if pt.task_ref.name:
                labels["tekton.dev/task"] = pt.task_ref.name
        else:
            embedded = _embedded_spec(pt, tree, values)
            md = embedded.pop("metadata", None) or {}
            labels.update(md.get("labels") or {})
            annotations.update(md.get("annotations") or {})
            child_spec["taskSpec"] = embedded
        if params:
            child_spec["params"] = params
        sa = trs.get("serviceAccountName") or template.get("serviceAccountName")
        if sa:
            child_spec["serviceAccountName"] = sa
        pod_template = trs.get("podTemplate") or template.get("podTemplate")
        if pod_template:
            child_spec["podTemplate"] = Substituter({"params": values}).apply(copy.deepcopy(pod_template))
        if pt.retries:
            child_spec["retries"] = pt.retries
        child_spec["timeout"] = _timeout(pr, pt, is_finally, config, elapsed)
        ws = _workspaces(pr, spec, pt)
        if ws:
            child_spec["workspaces"] = ws
        for key in ("stepSpecs", "sidecarSpecs", "computeResources"):
            if trs.get(key):
                child_spec[key] = copy.deepcopy(trs[key])
        trs_meta = trs.get("metadata") or {}
        labels.update(trs_meta.get("labels") or {})
        annotations.update(trs_meta.get("annotations") or {})
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace", "default"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_ref(pr)],
        },
        "spec": child_spec,
    }


def is_custom(pt: PipelineTask) -> bool:
    """A Custom Task: a ``taskRef`` with an ``apiVersion`` (Tekton: "using apiVersion will always
    create a CustomRun"), or an embedded ``taskSpec`` with an ``apiVersion`` and ``kind``."""
    if pt.task_ref is not None:
        return bool(pt.task_ref.api_version)
    return pt.task_spec is not None and bool(pt.task_spec.api_version or pt.task_spec.kind)


def display_name(pt: PipelineTask, run: JSON, index: int) -> str | None:
    label = ((run.get("metadata") or {}).get("annotations") or {}).get("tekton.dev/matrixName")
    if label:
        return str(label)
    if not pt.display_name:
        return None
    values = {p["name"]: p["value"] for p in (run.get("spec") or {}).get("params") or []}
    del index
    return Substituter({"params": values}).string(pt.display_name)


def pipeline_results(spec: PipelineSpec, states: dict[str, TaskState], tree: JSON) -> list[JSON]:
    """``status.results``: each pipeline result whose references all resolve."""
    finally_tree = dict(tree)
    finally_tree["finally"] = {n: {"results": s.results()} for n, s in states.items() if s.is_finally}
    out = []
    for r in spec.results or []:
        ok = True
        for _, segs in references(r.value):
            if segs[0] in ("tasks", "finally"):
                st = states.get(str(segs[1]))
                if (
                    st is None
                    or not (st.succeeded or st.ignored)
                    or lookup_tree(finally_tree, segs) is MISSING
                ):
                    ok = False
        if not ok:
            continue
        sub = Substituter(finally_tree)
        value = sub.value(r.value) if isinstance(r.value, str) else sub.apply(r.value)
        out.append({"name": r.name, "value": value})
    return out
