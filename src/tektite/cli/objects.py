"""kubectl verbs: ``apply -f``, ``create -f``, ``get``, ``describe``, ``delete``."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer

from tektite.cli.common import (
    LIST_PAGE,
    RUN_KINDS,
    STATE,
    ago,
    duration,
    err,
    headers_for,
    kind_arg,
    load_files,
    out,
    print_objects,
    row_for,
    run_status,
    table,
)
from tektite.core.conditions import get_condition
from tektite.errors import TektiteError

JSON = dict[str, Any]

FileOpt = Annotated[list[str], typer.Option("--filename", "-f", help="file, directory or - for stdin")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="yaml, json, name or wide")]


def apply(filename: FileOpt) -> None:
    """Create or update every object in the files (multi-document YAML, JSON, directories)."""
    if not filename:
        raise TektiteError("apply needs -f FILE (or -f - for stdin)")
    cluster = STATE.cluster()
    docs = load_files(filename)
    for applied in cluster.apply(docs, STATE.namespace if STATE.namespace != "default" else None):
        out(applied.describe())


def create(filename: FileOpt) -> None:
    """Create every object in the files; fails if one already exists."""
    cluster = STATE.cluster()
    docs = load_files(filename)
    parsed = [cluster.admit(d.obj, d) for d in docs]
    for p in parsed:
        obj = cluster.store.create(p.obj)
        out(f"{obj['kind'].lower()}/{obj['metadata']['name']} created")


def get(
    kind: Annotated[str, typer.Argument(help="resource type, e.g. pipelineruns, tr, task")],
    name: Annotated[str | None, typer.Argument()] = None,
    output: OutputOpt = None,
    selector: Annotated[str | None, typer.Option("--selector", "-l", help="label selector")] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
) -> None:
    """List objects or show one, like ``kubectl get``."""
    k = kind_arg(kind)
    store = STATE.cluster().store
    if name:
        print_objects(k, [store.get(k.kind, name, STATE.namespace)], output, single=True)
        return
    ns = "*" if all_namespaces else STATE.namespace
    order: Literal["name", "-created"] = "-created" if k.kind in ("TaskRun", "PipelineRun") else "name"
    if output in (None, "", "wide"):  # a table: each object becomes its row as it is read
        wide = output == "wide"
        rows = [row_for(k, o, wide) for o in store.scan(k.kind, LIST_PAGE, selector, ns, order)]
        if not rows:
            err(f"No {k.plural} found")
            return
        out(table(rows, headers_for(k, wide)))
        return
    items = store.list(k.kind, ns, label_selector=selector, order=order).items
    print_objects(k, items, output)


def delete(
    kind: Annotated[str, typer.Argument(help="resource type")],
    names: Annotated[list[str] | None, typer.Argument()] = None,
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
    all_: Annotated[bool, typer.Option("--all", help="delete every object of the type")] = False,
) -> None:
    """Delete objects (runs take their TaskRuns, logs and directories with them)."""
    cluster = STATE.cluster()
    targets: list[tuple[str, str, str]] = []
    if filename:
        for d in load_files(filename):
            meta = d.obj.get("metadata") or {}
            targets.append(
                (d.obj.get("kind", ""), meta.get("name", ""), meta.get("namespace") or STATE.namespace)
            )
    k = kind_arg(kind) if kind != "-" else None
    if k is not None:
        for n in names or []:
            targets.append((k.kind, n, STATE.namespace))
        if selector or all_:
            for o in cluster.store.list(k.kind, STATE.namespace, label_selector=selector).items:
                targets.append((k.kind, o["metadata"]["name"], STATE.namespace))
    if not targets:
        raise TektiteError("nothing to delete: name objects, or use -l SELECTOR, --all or -f FILE")
    for kind_name, n, ns in targets:
        touched = cluster.delete(kind_name, n, ns)
        held = any(
            o["metadata"]["name"] == n and o["metadata"].get("deletionTimestamp")
            for o in touched
            if o.get("kind") == kind_name
        )
        if held:
            out(
                f'{kind_name.lower()} "{n}" is being deleted (waiting for its finalizers, e.g. Chains signing)'
            )
        else:
            out(f'{kind_name.lower()} "{n}" deleted')


def _kv_rows(items: list[JSON], key: str = "value") -> list[list[str]]:
    rows = []
    for p in items:
        v = p.get(key)
        rows.append([" " + str(p.get("name")), v if isinstance(v, str) else json.dumps(v)])
    return rows


def describe_run(obj: JSON) -> str:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = [f"Name:              {meta['name']}", f"Namespace:         {meta.get('namespace', '')}"]
    if obj["kind"] == "TaskRun":
        ref = (spec.get("taskRef") or {}).get("name")
        lines.append(f"Task Ref:          {ref or '(embedded)'}")
        lines.append(f"Service Account:   {spec.get('serviceAccountName') or 'default'}")
        if spec.get("timeout"):
            lines.append(f"Timeout:           {spec['timeout']}")
    elif obj["kind"] == "CustomRun":
        custom = spec.get("customRef") or spec.get("customSpec") or {}
        named = f" {custom['name']}" if custom.get("name") else ""
        lines.append(f"Custom Task:       {custom.get('kind', '')}{named} ({custom.get('apiVersion', '')})")
        if spec.get("timeout"):
            lines.append(f"Timeout:           {spec['timeout']}")
    else:
        ref = (spec.get("pipelineRef") or {}).get("name")
        lines.append(f"Pipeline Ref:      {ref or '(embedded)'}")
        sa = (spec.get("taskRunTemplate") or {}).get("serviceAccountName")
        lines.append(f"Service Account:   {sa or 'default'}")
        t = spec.get("timeouts") or {}
        if t:
            lines.append("Timeouts:          " + ", ".join(f"{k}: {v}" for k, v in t.items()))
    labels = meta.get("labels") or {}
    if labels:
        lines.append("Labels:")
        lines.extend(f" {k}={v}" for k, v in sorted(labels.items()))
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(
            (
                "kubectl.kubernetes.io/",
                "chains.tekton.dev/payload-",
                "chains.tekton.dev/signature-",
                "chains.tekton.dev/cert-",
                "chains.tekton.dev/chain-",
            )
        )
    }
    if annotations:
        lines.append("Annotations:")
        lines.extend(f" {k}={v}" for k, v in sorted(annotations.items()))
    cond = get_condition(obj) or {}
    lines += [
        "",
        "🌡️  Status",
        "",
        table(
            [[ago(status.get("startTime")), duration(obj), run_status(obj)]],
            ["STARTED", "DURATION", "STATUS"],
        ),
    ]
    if cond.get("message") and cond.get("status") != "True":
        lines += ["", "💌 Message", "", cond["message"]]
    if spec.get("params"):
        lines += ["", "⚓ Params", "", table(_kv_rows(spec["params"]), [" NAME", "VALUE"])]
    if status.get("results"):
        lines += ["", "📝 Results", "", table(_kv_rows(status["results"]), [" NAME", "VALUE"])]
    if spec.get("workspaces"):
        rows = []
        from tektite.core.cachebinding import is_cache  # only when describing

        for w in spec["workspaces"]:
            src = next((k for k in w if k not in ("name", "subPath")), "")
            if is_cache(w):
                src = f"cache {((w['csi'].get('volumeAttributes') or {}).get('key') or '')}"
            rows.append([" " + w["name"], w.get("subPath") or "---", src])
        lines += ["", "📂 Workspaces", "", table(rows, [" NAME", "SUB PATH", "WORKSPACE BINDING"])]
    if obj["kind"] == "TaskRun" and status.get("steps"):
        rows = []
        for s in status["steps"]:
            term = s.get("terminated")
            st = term.get("reason") if term else ("Running" if s.get("running") else "Waiting")
            if s.get("terminationReason") and s["terminationReason"] not in ("Completed",):
                st = s["terminationReason"]
            rows.append([" " + s["name"], str(st)])
        lines += ["", "🦶 Steps", "", table(rows, [" NAME", "STATUS"])]
    if obj["kind"] == "TaskRun" and status.get("retriesStatus"):
        lines += ["", f"🔁 Retries: {len(status['retriesStatus'])}"]
    if obj["kind"] == "PipelineRun":
        children = status.get("childReferences") or []
        if children:
            from tektite.cli.common import STATE as S

            rows = []
            for c in children:
                child = S.cluster().store.try_get(c["kind"], c["name"], meta.get("namespace", "default"))
                rows.append(
                    [
                        " " + c["name"],
                        c.get("pipelineTaskName", ""),
                        ago((child or {}).get("status", {}).get("startTime")),
                        duration(child) if child else "---",
                        _with_reuse(run_status(child), child) if child else "---",
                    ]
                )
            lines += [
                "",
                "🗂  Taskruns",
                "",
                table(rows, [" NAME", "TASK NAME", "STARTED", "DURATION", "STATUS"]),
            ]
        if status.get("skippedTasks"):
            rows = [[" " + s["name"], s.get("reason", "")] for s in status["skippedTasks"]]
            lines += ["", "⏭️  Skipped Tasks", "", table(rows, [" NAME", "REASON"])]
    trusted = get_condition(obj, "TrustedResourcesVerified")
    if trusted:
        mark = "verified" if trusted.get("status") == "True" else "NOT verified"
        lines += ["", f"🔐 Trusted resources: {mark}", f"   {trusted.get('message', '')}"]
    signed = (meta.get("annotations") or {}).get("chains.tekton.dev/signed")
    if signed:
        lines += ["", f"🔏 Chains: signed={signed}"]
        why = (meta.get("annotations") or {}).get("chains.tekton.dev/error")
        if why:
            lines.append(f"   reason: {why}")
    return "\n".join(lines)


def _param_rows(params: list[JSON]) -> list[list[str]]:
    rows = []
    for p in params:
        kind = p.get("type") or (
            "object" if p.get("properties") else "array" if isinstance(p.get("default"), list) else "string"
        )
        default = p.get("default")
        shown = "---" if default is None else default if isinstance(default, str) else json.dumps(default)
        rows.append([" ∙ " + str(p.get("name")), kind, _short(p.get("description")), shown])
    return rows


def _short(text: Any, width: int = 50) -> str:
    """A description on one line of a table ("---" when there is none)."""
    if not text:
        return "---"
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def describe_definition(obj: JSON, runs: list[JSON]) -> str:
    """``tkn task|pipeline describe``: a Task or Pipeline and its newest runs."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    lines = [f"Name:          {meta['name']}", f"Namespace:     {meta.get('namespace', '')}"]
    if spec.get("displayName"):
        lines.append(f"Display Name:  {spec['displayName']}")
    if spec.get("description"):
        lines.append(f"Description:   {' '.join(str(spec['description']).split())}")
    if spec.get("params"):
        lines += [
            "",
            "⚓ Params",
            "",
            table(_param_rows(spec["params"]), [" NAME", "TYPE", "DESCRIPTION", "DEFAULT VALUE"]),
        ]
    if spec.get("results"):
        rows = [
            [" ∙ " + r["name"], r.get("type") or "string", _short(r.get("description"))]
            for r in spec["results"]
        ]
        lines += ["", "📝 Results", "", table(rows, [" NAME", "TYPE", "DESCRIPTION"])]
    if spec.get("workspaces"):
        rows = [
            [" ∙ " + w["name"], _short(w.get("description")), str(bool(w.get("optional"))).lower()]
            for w in spec["workspaces"]
        ]
        lines += ["", "📂 Workspaces", "", table(rows, [" NAME", "DESCRIPTION", "OPTIONAL"])]
    if obj["kind"] == "Task" and spec.get("steps"):
        rows = [
            [" ∙ " + (s.get("name") or "unnamed"), s.get("image") or (s.get("ref") or {}).get("name", "---")]
            for s in spec["steps"]
        ]
        lines += ["", "🦶 Steps", "", table(rows, [" NAME", "IMAGE"])]
    if obj["kind"] == "Pipeline":
        for title, key in (("🗒  Tasks", "tasks"), ("🏁 Finally Tasks", "finally")):
            if not spec.get(key):
                continue
            rows = []
            for t in spec[key]:
                ref = t.get("taskRef") or {}
                target = ref.get("name") or (
                    f"{ref['kind']} ({ref.get('apiVersion', '')})" if ref.get("apiVersion") else ""
                )
                target = target or (
                    "(resolver " + ref["resolver"] + ")" if ref.get("resolver") else "(embedded)"
                )
                rows.append(
                    [
                        " ∙ " + t["name"],
                        target,
                        ", ".join(t.get("runAfter") or []) or "---",
                        t.get("timeout") or "---",
                    ]
                )
            lines += ["", title, "", table(rows, [" NAME", "TASKREF", "RUNAFTER", "TIMEOUT"])]
    run_kind = "PipelineRuns" if obj["kind"] == "Pipeline" else "TaskRuns"
    if runs:
        rows = [
            [
                " ∙ " + r["metadata"]["name"],
                ago((r.get("status") or {}).get("startTime")),
                duration(r),
                run_status(r),
            ]
            for r in runs
        ]
        lines += ["", f"⛩  {run_kind}", "", table(rows, [" NAME", "STARTED", "DURATION", "STATUS"])]
    else:
        lines += ["", f"⛩  {run_kind}", "", f" No {run_kind.lower()}"]
    return "\n".join(lines)


def describe(kind: Annotated[str, typer.Argument()], name: Annotated[str, typer.Argument()]) -> None:
    """Show one object in detail (runs like ``tkn ... describe``)."""
    k = kind_arg(kind)
    obj = STATE.cluster().store.get(k.kind, name, STATE.namespace)
    if k.kind in RUN_KINDS:
        out(describe_run(obj))
        return
    import yaml

    out(yaml.safe_dump(obj, sort_keys=False).rstrip())


def register(app: typer.Typer) -> None:
    app.command()(apply)
    app.command()(create)
    app.command()(get)
    app.command()(describe)
    app.command()(delete)


def _with_reuse(status: str, child: JSON) -> str:
    """A rerun from failure's reused TaskRun says which TaskRun really ran."""
    from tektite.controller.rerun import reused_taskrun

    reused = reused_taskrun(child)
    return f"{status} (reused {reused})" if reused else status
