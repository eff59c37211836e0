"""Running things: ``run -f``, ``task|pipeline start``, and ``taskrun|pipelinerun`` verbs (tkn habits)."""

from __future__ import annotations

import asyncio
import copy
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from tektite.cli.common import (
    LIST_PAGE,
    STATE,
    ago,
    duration,
    err,
    load_files,
    out,
    param_value,
    parse_kv,
    print_objects,
    read_yaml_mapping,
    run_status,
    table,
    workspace_binding,
)
from tektite.cli.follow import Follower
from tektite.cli.objects import describe_definition, describe_run
from tektite.cli.preflight import check_references
from tektite.controller.pruning import Retention, protection, select
from tektite.core.conditions import get_condition, is_done, succeeded
from tektite.errors import Conflict, TektiteError

if TYPE_CHECKING:
    from tektite.controller.cluster import Cluster

JSON = dict[str, Any]

ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (arrays: a,b,c)")]
WsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--workspace",
        "-w",
        help="name=WS and emptyDir= | claimName=PVC | config=CM | secret=S (item=KEY=PATH) | volumeClaimTemplateFile=F | csiFile=F [,subPath=P]",
    ),
]
ExecOpt = Annotated[
    str | None, typer.Option("--executor", help="sandbox or process (default: sandbox when bubblewrap works)")
]


def _declared_types(cluster: Cluster, run: JSON) -> dict[str, str]:
    spec = run.get("spec") or {}
    ns = run["metadata"].get("namespace", "default")
    target: JSON | None = None
    if run["kind"] == "PipelineRun":
        target = spec.get("pipelineSpec")
        if target is None and (spec.get("pipelineRef") or {}).get("name"):
            target = (cluster.store.try_get("Pipeline", spec["pipelineRef"]["name"], ns) or {}).get("spec")
    else:
        target = spec.get("taskSpec")
        if target is None and (spec.get("taskRef") or {}).get("name"):
            target = (cluster.store.try_get("Task", spec["taskRef"]["name"], ns) or {}).get("spec")
    out_: dict[str, str] = {}
    for p in (target or {}).get("params") or []:
        t = p.get("type") or (
            "object" if p.get("properties") else "array" if isinstance(p.get("default"), list) else "string"
        )
        out_[p["name"]] = t
    return out_


def _override(cluster: Cluster, run: JSON, params: dict[str, str], workspaces: list[str]) -> JSON:
    run = copy.deepcopy(run)
    spec = run.setdefault("spec", {})
    if params:
        types = _declared_types(cluster, run)
        current = {p["name"]: p for p in spec.get("params") or []}
        for k, v in params.items():
            current[k] = {"name": k, "value": param_value(v, types.get(k))}
        spec["params"] = list(current.values())
    if workspaces:
        current_ws = {w["name"]: w for w in spec.get("workspaces") or []}
        for w in workspaces:
            b = workspace_binding(w)
            current_ws[b["name"]] = b
        spec["workspaces"] = list(current_ws.values())
    return run


def _remote_logs(cluster: Cluster) -> Any:
    """The server's log endpoint when the CLI talks to ``tektite serve`` (``--server``)."""
    return getattr(cluster.store, "logs", None)


async def _follow_remote(
    cluster: Cluster, runs: list[JSON], show_logs: bool, timeout: float | None
) -> list[JSON]:
    logs = _remote_logs(cluster)

    def stream(r: JSON) -> None:
        ns = r["metadata"].get("namespace", "default")
        for line in logs(r["kind"], r["metadata"]["name"], ns, follow=True):
            out(line)

    if show_logs:  # a CustomRun has no step logs: its controller runs it
        with_logs = [r for r in runs if r["kind"] != "CustomRun"]
        await asyncio.wait_for(asyncio.gather(*(asyncio.to_thread(stream, r) for r in with_logs)), timeout)
    deadline = time.monotonic() + timeout if timeout else None
    followers = [  # for each task's outcome as it comes (✓ task build: Succeeded), as locally
        Follower(cluster, r["kind"], r["metadata"]["name"], r["metadata"].get("namespace", "default"))
        for r in runs
    ]
    while True:
        final = [
            cluster.store.get(r["kind"], r["metadata"]["name"], r["metadata"].get("namespace", "default"))
            for r in runs
        ]
        for f in followers:
            for line in f.transitions():
                err(line)
        if all(is_done(f) for f in final):
            return final
        if deadline and time.monotonic() > deadline:
            raise TektiteError(f"timed out after {timeout}s waiting for the runs to finish")
        await asyncio.sleep(0.2)


async def _follow(
    cluster: Cluster, runs: list[JSON], *, show_logs: bool, executor: str | None, timeout: float | None = None
) -> list[JSON]:
    if _remote_logs(cluster) is not None:  # --server: the server runs the engine and has the logs
        return await _follow_remote(cluster, runs, show_logs, timeout)
    from tektite.cli.session import engine_session  # the engine and Chains: only commands that run

    async with engine_session(cluster, executor) as engine:
        del engine
        followers = [
            Follower(cluster, r["kind"], r["metadata"]["name"], r["metadata"].get("namespace", "default"))
            for r in runs
        ]
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            finished = all(f.done() for f in followers)
            for f in followers:
                if show_logs:
                    for line in f.poll(final=finished):
                        out(line)
                for line in f.transitions():
                    err(line)
            if finished:
                break
            if deadline and time.monotonic() > deadline:
                raise TektiteError(f"timed out after {timeout}s waiting for the runs to finish")
            await asyncio.sleep(0.05)
    return [
        cluster.store.get(r["kind"], r["metadata"]["name"], r["metadata"].get("namespace", "default"))
        for r in runs
    ]


def _summary(final: list[JSON]) -> int:
    rows = []
    for r in final:
        cond = get_condition(r) or {}
        rows.append(
            [
                r["kind"],
                r["metadata"]["name"],
                run_status(r),
                duration(r),
                "" if cond.get("status") == "True" else (cond.get("message") or "")[:100],
            ]
        )
    err("")
    err(table(rows, ["KIND", "NAME", "STATUS", "DURATION", "MESSAGE"]))
    return 0 if all(succeeded(r) for r in final) else 1


RUNNABLE = ("TaskRun", "PipelineRun", "CustomRun")  # what `run -f` creates and follows


def _approval_hint(obj: JSON) -> None:
    """A lone Approval CustomRun waits for a person: say how to decide, from another terminal."""
    from tektite.controller import custom

    if obj["kind"] == "CustomRun" and custom.target(obj) == custom.APPROVAL:
        name = obj["metadata"]["name"]
        err(f"customrun/{name} waits for approval: tektite customrun approve {name} (or reject)")


def run(
    filename: Annotated[list[str], typer.Option("--filename", "-f", help="file, directory or -")],
    param: ParamOpt = None,
    workspace: WsOpt = None,
    executor: ExecOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no step logs")] = False,
    timeout: Annotated[
        float | None, typer.Option("--wait-timeout", help="give up waiting after SECONDS")
    ] = None,
) -> None:
    """Apply every object in the files, create their runs, execute them and stream the logs.

    Runs are TaskRuns, PipelineRuns and CustomRuns (the built-in Wait and Approval kinds run here;
    another kind waits for its own controller). Exits 0 only if every run created from the files
    succeeded.
    """
    cluster = STATE.cluster()
    docs = load_files(filename)
    ns = STATE.namespace if STATE.namespace != "default" else None
    parsed = [cluster.admit(d.obj, d, ns) for d in docs]
    params = parse_kv(param, "param")
    check_references(parsed, cluster.store, STATE.namespace)
    for p in parsed:
        if p.kind.kind not in RUNNABLE:
            cluster.apply_one(p.obj)
    created = []
    for p in parsed:
        if p.kind.kind in RUNNABLE:
            obj = _override(cluster, p.obj, params, workspace or [])
            if params or workspace:
                cluster.admit(obj)
            created.append(cluster.store.create(obj))
            err(f"{obj['kind'].lower()}/{created[-1]['metadata']['name']} created")
            _approval_hint(created[-1])
    if not created:
        raise TektiteError(
            "the files hold no TaskRun, PipelineRun or CustomRun to run; use `tektite apply -f` to "
            "store objects, or `tektite task start` / `tektite pipeline start`"
        )
    final = asyncio.run(_follow(cluster, created, show_logs=not quiet, executor=executor, timeout=timeout))
    raise typer.Exit(_summary(final))


@dataclass
class StartOptions:
    """``tkn task|pipeline start``'s flags (those tektite takes)."""

    param: list[str] | None = None
    workspace: list[str] | None = None
    showlog: bool = False
    service_account: str | None = None
    timeout: str | None = None  # TaskRun timeout; a PipelineRun's timeouts.pipeline
    tasks_timeout: str | None = None
    finally_timeout: str | None = None
    task_service_accounts: list[str] | None = None
    labels: list[str] | None = None
    pod_template: str | None = None
    executor: str | None = None
    use_param_defaults: bool = False
    prefix_name: str | None = None
    last: bool = False
    use_run: str | None = None  # --use-pipelinerun / --use-taskrun
    dry_run: bool = False
    output: str | None = None
    filename: str | None = None  # tkn's -f: the Task/Pipeline from a file or URL, embedded in the run


# What a re-run (--last, --use-pipelinerun/--use-taskrun) takes from the earlier run's spec, as tkn
# does: the values it was started with, not its status nor how it was cancelled.
_RERUN_FIELDS = {
    "PipelineRun": ("params", "workspaces", "taskRunTemplate", "timeouts", "taskRunSpecs"),
    "TaskRun": (
        "params", "workspaces", "serviceAccountName", "podTemplate", "timeout", "retries",
        "stepSpecs", "sidecarSpecs", "computeResources",
    ),
}  # fmt: skip
_REF_LABEL = {"PipelineRun": "tekton.dev/pipeline", "TaskRun": "tekton.dev/task"}
_OUTPUTS = ("yaml", "json", "name")


def _runs_of(cluster: Cluster, kind: str, name: str, limit: int | None = None, also: str = "") -> list[JSON]:
    """The runs of the Pipeline/Task ``name`` (by its ``tekton.dev/pipeline``/``task`` label),
    newest first; ``also``: more of a label selector."""
    selector = f"{_REF_LABEL[kind]}={name}" + (f",{also}" if also else "")
    return cluster.store.list(
        kind, STATE.namespace, label_selector=selector, order="-created", limit=limit
    ).items


def _earlier_run(cluster: Cluster, kind: str, ref_kind: str, name: str, opts: StartOptions) -> JSON | None:
    """The run a re-run copies: ``--use-pipelinerun``/``--use-taskrun`` NAME, or with ``--last``
    the newest run of the Pipeline/Task (by its ``tekton.dev/pipeline``/``task`` label)."""
    ns = STATE.namespace
    label = _REF_LABEL[kind]
    if opts.use_run:
        earlier = cluster.store.get(kind, opts.use_run, ns)
        ref = ((earlier.get("spec") or {}).get("pipelineRef" if kind == "PipelineRun" else "taskRef")) or {}
        if name not in (ref.get("name"), (earlier["metadata"].get("labels") or {}).get(label)):
            raise TektiteError(f'{kind} "{opts.use_run}" is not a run of the {ref_kind} "{name}"')
        return earlier
    if not opts.last:
        return None
    # a TaskRun the user started, not a pipeline's (its timeout is what was left)
    found = _runs_of(cluster, kind, name, 1, "!tekton.dev/pipelineRun" if kind == "TaskRun" else "")
    if not found:
        raise TektiteError(
            f'no {kind} of the {ref_kind} "{name}" in namespace "{ns}" to re-run',
            hint="start it once without --last",
        )
    return found[0]


def _start_object(cluster: Cluster, kind: str, ref_kind: str, name: str, opts: StartOptions) -> JSON:
    """The run ``start`` creates: the earlier run's values (a re-run), then the flags over them."""
    ns = STATE.namespace
    earlier = _earlier_run(cluster, kind, ref_kind, name, opts)
    prefix = opts.prefix_name or name
    spec: JSON = {"pipelineRef" if kind == "PipelineRun" else "taskRef": {"name": name}}
    if opts.filename is not None:  # -f: the definition travels in the run (tkn embeds it too)
        spec = {
            "pipelineSpec" if kind == "PipelineRun" else "taskSpec": copy.deepcopy(
                _from_file(opts.filename, ref_kind)["spec"]
            )
        }
    if earlier is not None:
        old = earlier.get("spec") or {}
        spec.update({k: copy.deepcopy(old[k]) for k in _RERUN_FIELDS[kind] if k in old})
        err(f"re-running with the values of {kind.lower()}/{earlier['metadata']['name']}")
    run_obj: JSON = {
        "apiVersion": "tekton.dev/v1",
        "kind": kind,
        "metadata": {"generateName": f"{prefix}-run-", "namespace": ns},
        "spec": spec,
    }
    if opts.labels:
        run_obj["metadata"]["labels"] = parse_kv(opts.labels, "label")
    if kind == "TaskRun":
        if opts.service_account:
            spec["serviceAccountName"] = opts.service_account
        if opts.timeout:
            spec["timeout"] = opts.timeout
        if opts.pod_template:
            spec["podTemplate"] = read_yaml_mapping(opts.pod_template, "pod template")
    else:
        template = spec.setdefault("taskRunTemplate", {})
        if opts.service_account:
            template["serviceAccountName"] = opts.service_account
        if opts.pod_template:
            template["podTemplate"] = read_yaml_mapping(opts.pod_template, "pod template")
        if not template:
            del spec["taskRunTemplate"]
        for key, value in (
            ("pipeline", opts.timeout),
            ("tasks", opts.tasks_timeout),
            ("finally", opts.finally_timeout),
        ):
            if value:
                spec.setdefault("timeouts", {})[key] = value
        accounts = parse_kv(opts.task_service_accounts, "task service account (TASK=SERVICEACCOUNT)")
        if accounts:
            specs = {s.get("pipelineTaskName"): s for s in spec.get("taskRunSpecs") or []}
            for task, account in accounts.items():
                specs.setdefault(task, {"pipelineTaskName": task})["serviceAccountName"] = account
            spec["taskRunSpecs"] = list(specs.values())
    return _override(cluster, run_obj, parse_kv(opts.param, "param"), opts.workspace or [])


def _from_file(filename: str, ref_kind: str) -> JSON:
    """``-f``: the one Task/Pipeline in a file, or at an http(s) URL."""
    if filename.startswith(("http://", "https://")):
        import httpx

        from tektite.api.loader import load_text

        try:
            response = httpx.get(filename, follow_redirects=True, timeout=30)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TektiteError(f"cannot fetch {filename}: {exc}") from None
        docs = load_text(response.text, filename)
    else:
        docs = load_files([filename])
    found = [d.obj for d in docs if d.obj.get("kind") == ref_kind]
    if len(found) != 1:
        raise TektiteError(f"{filename}: expected one {ref_kind}, found {len(found)}")
    if not isinstance(found[0].get("spec"), dict):
        raise TektiteError(f"{filename}: the {ref_kind} has no spec")
    return found[0]


def _start(kind: str, ref_kind: str, name: str | None, opts: StartOptions) -> None:
    if opts.output is not None and opts.output not in _OUTPUTS:
        raise TektiteError(f'unknown --output "{opts.output}"; expected one of {", ".join(_OUTPUTS)}')
    if opts.last and opts.use_run:
        flag = "--use-pipelinerun" if kind == "PipelineRun" else "--use-taskrun"
        raise TektiteError(f"--last and {flag} each name the run to copy; give one of them")
    if (name is None) == (opts.filename is None):
        raise TektiteError(f"name the {ref_kind} to start, or give -f FILE (one of them)")
    cluster = STATE.cluster()
    if opts.filename is not None:
        if opts.last or opts.use_run:
            raise TektiteError(
                f"--last and --use-{kind.lower()} re-run a stored {ref_kind}; -f embeds the file's"
            )
        target = _from_file(opts.filename, ref_kind)
        name = str((target.get("metadata") or {}).get("name") or ref_kind.lower())
    else:
        assert name is not None
        target = cluster.store.get(ref_kind, name, STATE.namespace)
    run_obj = _start_object(cluster, kind, ref_kind, name, opts)
    spec = run_obj["spec"]
    declared = {p["name"] for p in (target.get("spec") or {}).get("params") or [] if p.get("default") is None}
    given = {p["name"] for p in spec.get("params") or []}
    missing = sorted(declared - given)
    if missing and not opts.use_param_defaults:
        raise TektiteError(
            f'{ref_kind} "{name}" needs params that were not given: {", ".join(missing)}; '
            "pass them with -p NAME=VALUE"
        )
    if opts.dry_run:  # checked as a create would, not stored
        cluster.admit(copy.deepcopy(run_obj))
        _print_run(run_obj, opts.output or "yaml")
        return
    _run_created(cluster, cluster.create(run_obj), opts.output, opts.showlog, opts.executor)


def _run_created(
    cluster: Cluster, created: JSON, output: str | None, showlog: bool, executor: str | None
) -> NoReturn:
    """Say a run was started, follow it to its end, exit with its outcome."""
    kind, run_name = created["kind"], created["metadata"]["name"]
    if output:  # for scripts: `name=$(tektite pipeline start p -o name)`
        _print_run(created, output)
    err(f"{kind} started: {run_name}")
    final = asyncio.run(_follow(cluster, [created], show_logs=showlog, executor=executor))
    if not showlog:
        err(f"In order to see the logs run: tektite {kind.lower()} logs {run_name}")
    raise typer.Exit(_summary(final))


def _print_run(obj: JSON, output: str) -> None:
    """``-o``: as ``get`` prints one object; a name not given yet is its generateName."""
    if output == "name":
        out(
            f"{obj['kind'].lower()}.tekton.dev/{obj['metadata'].get('name') or obj['metadata']['generateName']}"
        )
        return
    from tektite.api.scheme import KINDS

    print_objects(KINDS[obj["kind"]], [obj], output, single=True)


task_app = typer.Typer(
    help="Tasks: list, describe, start, logs, delete, export, sign, verify.", no_args_is_help=True
)
pipeline_app = typer.Typer(
    help="Pipelines: list, describe, start, logs, delete, export, sign, verify.", no_args_is_help=True
)


def _start_command(group: typer.Typer, kind: str, ref_kind: str) -> None:
    def start(
        name: Annotated[str | None, typer.Argument()] = None,
        filename: Annotated[
            str | None,
            typer.Option("--filename", "-f", help="the definition from a file or URL (embedded in the run)"),
        ] = None,
        exit_with_error: Annotated[
            bool,
            typer.Option(
                "--exit-with-pipelinerun-error",
                "-E",
                help="tkn's flag: tektite always exits 1 when the run fails",
            ),
        ] = False,
        param: ParamOpt = None,
        workspace: WsOpt = None,
        showlog: Annotated[bool, typer.Option("--showlog", help="stream the logs")] = False,
        serviceaccount: Annotated[str | None, typer.Option("--serviceaccount", "-s")] = None,
        timeout: str | None = None,
        labels: list[str] | None = None,
        pod_template: Annotated[
            str | None, typer.Option("--pod-template", help="a file holding a PodTemplate")
        ] = None,
        last: bool = False,
        use_run: str | None = None,
        dry_run: bool = False,
        output: str | None = None,
        executor: ExecOpt = None,
        use_param_defaults: Annotated[bool, typer.Option("--use-param-defaults")] = False,
        prefix_name: Annotated[str | None, typer.Option("--prefix-name")] = None,
        tasks_timeout: str | None = None,
        finally_timeout: str | None = None,
        task_serviceaccount: list[str] | None = None,
    ) -> None:
        del (
            exit_with_error
        )  # accepted for scripts written for tkn: the exit code already says how the run ended
        if kind == "TaskRun" and (tasks_timeout or finally_timeout or task_serviceaccount):
            raise TektiteError(
                "--tasks-timeout, --finally-timeout and --task-serviceaccount apply to pipeline start"
            )
        _start(
            kind,
            ref_kind,
            name,
            StartOptions(
                param=param,
                workspace=workspace,
                showlog=showlog,
                service_account=serviceaccount,
                timeout=timeout,
                tasks_timeout=tasks_timeout,
                finally_timeout=finally_timeout,
                task_service_accounts=task_serviceaccount,
                labels=labels,
                pod_template=pod_template,
                executor=executor,
                use_param_defaults=use_param_defaults,
                prefix_name=prefix_name,
                last=last,
                use_run=use_run,
                dry_run=dry_run,
                output=output,
                filename=filename,
            ),
        )

    # the options whose names and help depend on the kind (tkn: --use-pipelinerun, --use-taskrun)
    pipeline_only = kind == "TaskRun"  # hidden on task start
    start.__annotations__.update(
        timeout=Annotated[
            str | None,
            typer.Option(
                *(["--timeout"] if kind == "TaskRun" else ["--pipeline-timeout", "--timeout"]),
                help=f"the {kind}'s timeout (a Go duration: 1h30m)",
            ),
        ],
        labels=Annotated[
            list[str] | None, typer.Option("--labels", "-l", help=f"KEY=VALUE: a label of the {kind}")
        ],
        last=Annotated[
            bool,
            typer.Option("--last", "-L", help=f"re-run with the values of the {ref_kind}'s newest {kind}"),
        ],
        use_run=Annotated[
            str | None, typer.Option(f"--use-{kind.lower()}", help=f"re-run with the values of this {kind}")
        ],
        dry_run=Annotated[bool, typer.Option("--dry-run", help=f"print the {kind} (checked, not created)")],
        output=Annotated[
            str | None, typer.Option("--output", "-o", help=f"print the {kind}: yaml, json or name")
        ],
        tasks_timeout=Annotated[
            str | None, typer.Option("--tasks-timeout", help="timeouts.tasks", hidden=pipeline_only)
        ],
        finally_timeout=Annotated[
            str | None, typer.Option("--finally-timeout", help="timeouts.finally", hidden=pipeline_only)
        ],
        task_serviceaccount=Annotated[
            list[str] | None,
            typer.Option(
                "--task-serviceaccount", help="TASK=SERVICEACCOUNT (taskRunSpecs)", hidden=pipeline_only
            ),
        ],
    )
    group.command("start", help=f"Start a {kind} of the {ref_kind} NAME and run it (tkn's flags).")(start)


_start_command(task_app, "TaskRun", "Task")
_start_command(pipeline_app, "PipelineRun", "Pipeline")


def _definition_commands(group: typer.Typer, ref_kind: str, kind: str) -> None:
    """``tkn pipeline|task logs`` and ``export`` on the definition's group."""
    label = _REF_LABEL[kind]

    @group.command("logs")
    def logs(
        name: str,
        run: Annotated[str | None, typer.Argument(help="a run of it (default: its newest)")] = None,
        follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
        last: Annotated[bool, typer.Option("--last", "-L", help="its newest run")] = False,
        step: Annotated[list[str] | None, typer.Option("--step", "-s")] = None,
    ) -> None:
        cluster = STATE.cluster()
        cluster.store.get(ref_kind, name, STATE.namespace)
        if run and not last:
            found = cluster.store.get(kind, run, STATE.namespace)
            if (found["metadata"].get("labels") or {}).get(label) != name:
                raise TektiteError(f'{kind} "{run}" is not a run of the {ref_kind} "{name}"')
            run_name = run
        else:
            newest = _runs_of(cluster, kind, name, 1)
            if not newest:
                raise TektiteError(f'no {kind} of the {ref_kind} "{name}" in namespace "{STATE.namespace}"')
            run_name = newest[0]["metadata"]["name"]
            if not last:  # tkn asks which run; tektite takes the newest and says so
                err(
                    f"{kind.lower()}/{run_name} (the newest of {ref_kind.lower()}/{name}; name another as RUN)"
                )
        _show_logs(kind, run_name, follow, step)

    logs.__doc__ = f"Show the logs of a {kind} of the {ref_kind} NAME (tkn {ref_kind.lower()} logs)."

    @group.command("export")
    def export(name: str) -> None:
        out(_exported(STATE.cluster().store.get(ref_kind, name, STATE.namespace)))

    export.__doc__ = f"Print the {ref_kind} as YAML to create it again elsewhere (tkn export)."

    runs_flag = "--prs" if kind == "PipelineRun" else "--trs"

    def delete(
        names: Annotated[list[str], typer.Argument()],
        with_runs: bool = False,
    ) -> None:
        cluster = STATE.cluster()
        for name in names:
            cluster.store.get(ref_kind, name, STATE.namespace)  # NotFound names it, before anything goes
        for name in names:
            if with_runs:
                for run in _runs_of(cluster, kind, name):
                    if (run["metadata"].get("labels") or {}).get(
                        "tekton.dev/pipelineRun"
                    ) and kind == "TaskRun":
                        continue  # a pipeline's TaskRun goes with its PipelineRun
                    cluster.delete(kind, run["metadata"]["name"], STATE.namespace)
                    out(f'{kind} "{run["metadata"]["name"]}" deleted')
            cluster.delete(ref_kind, name, STATE.namespace)
            out(f'{ref_kind} "{name}" deleted')

    delete.__annotations__["with_runs"] = Annotated[
        bool, typer.Option(runs_flag, help=f"delete its {kind}s too (tkn {runs_flag})")
    ]
    delete.__doc__ = (
        f"Delete {ref_kind}s by name; {runs_flag} deletes their {kind}s too (tkn {ref_kind.lower()} delete)."
    )
    group.command("delete")(delete)


_definition_commands(task_app, "Task", "TaskRun")
_definition_commands(pipeline_app, "Pipeline", "PipelineRun")


def _list_defs(kind: str) -> None:
    items = STATE.cluster().store.list(kind, STATE.namespace).items
    if not items:
        err(f"No {kind.lower()}s found")
        return
    out(
        table(
            [[o["metadata"]["name"], ago(o["metadata"].get("creationTimestamp"))] for o in items],
            ["NAME", "AGE"],
        )
    )


@task_app.command("list")
def task_list() -> None:
    """List Tasks."""
    _list_defs("Task")


@pipeline_app.command("list")
def pipeline_list() -> None:
    """List Pipelines."""
    _list_defs("Pipeline")


def _caches_used(pr: JSON) -> str:
    """A PipelineRun's keyed caches (docs/caches.md): each workspace's key and how it started."""
    from tektite.controller.caches import in_use  # only when describing
    from tektite.core.cachebinding import is_cache

    if pr.get("kind") != "PipelineRun" or not any(
        is_cache(w) for w in (pr.get("spec") or {}).get("workspaces") or []
    ):
        return ""
    name = pr["metadata"]["name"]
    claims = STATE.cluster().store.list(
        "PersistentVolumeClaim", STATE.namespace, label_selector=f"tekton.dev/pipelineRun={name}"
    )
    rows = [[" " + ws, key, how or "---"] for ws, (key, how) in sorted(in_use(claims.items).items())]
    if not rows:
        return ""
    return "\n\n🗄️  Caches\n\n" + table(rows, [" WORKSPACE", "KEY", "RESTORED"])


def _describe_definition(ref_kind: str, kind: str, name: str, output: str | None) -> None:
    cluster = STATE.cluster()
    obj = cluster.store.get(ref_kind, name, STATE.namespace)
    if not _printed_as(obj, output):
        out(describe_definition(obj, _runs_of(cluster, kind, name, 5)))


def _printed_as(obj: JSON, output: str | None) -> bool:
    """``describe -o yaml|json``: the object itself instead of the description."""
    if output is None:
        return False
    if output not in ("yaml", "json"):
        raise TektiteError(f'unknown --output "{output}"; expected yaml or json')
    _print_run(obj, output)
    return True


DescribeOutput = Annotated[str | None, typer.Option("--output", "-o", help="the object as yaml or json")]


@task_app.command("describe")
def task_describe(name: str, output: DescribeOutput = None) -> None:
    """Describe a Task: params, results, workspaces, steps and its newest TaskRuns (tkn)."""
    _describe_definition("Task", "TaskRun", name, output)


@pipeline_app.command("describe")
def pipeline_describe(name: str, output: DescribeOutput = None) -> None:
    """Describe a Pipeline: params, results, workspaces, tasks and its newest PipelineRuns (tkn)."""
    _describe_definition("Pipeline", "PipelineRun", name, output)


def _show_logs(
    kind: str,
    run_name: str,
    follow: bool,
    step: list[str] | None,
    tasks: list[str] | None = None,
    *,
    prefix: bool = True,
    failed_only: bool = False,
) -> None:
    """A run's step logs, prefixed like tkn (``[task : step]``, unless not ``prefix``); with
    ``follow`` until it ends. ``tasks``: only those pipeline tasks' (tkn ``--task``);
    ``failed_only``: only the TaskRuns that failed (tkn ``--log-failed``)."""
    cluster = STATE.cluster()
    cluster.store.get(kind, run_name, STATE.namespace)
    remote = _remote_logs(cluster)
    if remote is not None and (tasks or failed_only or not prefix):
        raise TektiteError(
            "--task, --log-failed and --prefix=false read the run's TaskRuns from this home; "
            "with --server, name a TaskRun: taskrun logs NAME"
        )
    if remote is not None:
        wanted: list[str | None] = [f"step-{s}" for s in step or []] or [None]
        for container in wanted:
            for line in remote(kind, run_name, STATE.namespace, follow=follow, container=container):
                out(line)
        return
    f = Follower(
        cluster,
        kind,
        run_name,
        STATE.namespace,
        steps=step,
        tasks=tasks,
        prefix=prefix,
        failed_only=failed_only,
    )
    while True:
        finished = f.done()
        for line in f.poll(final=finished or not follow):
            out(line)
        if finished or not follow:
            break
        time.sleep(0.1)


# What ``export`` leaves out (tkn's export): what the server set, and what belongs to the run that
# happened - its status, its Chains signatures, the labels its controller derived.
_SERVER_FIELDS = (
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "ownerReferences",
    "finalizers", "deletionTimestamp", "namespace",
)  # fmt: skip
_DERIVED_PREFIXES = ("tekton.dev/", "chains.tekton.dev/", "tektite.dev/", "app.kubernetes.io/managed-by")


def _exported(obj: JSON) -> str:
    """``obj`` as YAML that ``apply``/``create -n OTHER`` takes to make it again."""
    import yaml

    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    if meta.get("generateName"):
        meta.pop("name", None)  # a run made with generateName gets a new name when created again
    for field in ("labels", "annotations"):
        kept = {
            k: v
            for k, v in (meta.get(field) or {}).items()
            if not k.startswith(_DERIVED_PREFIXES) and k != "kubectl.kubernetes.io/last-applied-configuration"
        }
        if kept:
            meta[field] = kept
        else:
            meta.pop(field, None)
    spec = obj.get("spec")
    if isinstance(spec, dict) and obj.get("kind") in ("TaskRun", "PipelineRun", "CustomRun"):
        spec.pop("status", None)  # a cancelled run's spec.status would cancel the new one
        spec.pop("statusMessage", None)
    return yaml.safe_dump(obj, sort_keys=False).rstrip()


def _run_group(kind: str) -> typer.Typer:
    verbs = "list, describe, logs, cancel, delete, export" + ("" if kind == "CustomRun" else ", rerun")
    group = typer.Typer(help=f"{kind}s: {verbs}.", no_args_is_help=True)

    def latest(name: str | None, last: bool) -> str:
        if name and not last:
            return name
        newest = STATE.cluster().store.list(kind, STATE.namespace, order="-created", limit=1).items
        if not newest:
            raise TektiteError(f"no {kind}s found in namespace {STATE.namespace}")
        return str(newest[0]["metadata"]["name"])

    @group.command("list")
    def list_(
        label: Annotated[str | None, typer.Option("--label", "-l")] = None,
        limit: Annotated[int | None, typer.Option("--limit")] = None,
        all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
        reverse: Annotated[bool, typer.Option("--reverse", help="oldest first")] = False,
        no_headers: Annotated[bool, typer.Option("--no-headers")] = False,
        output: Annotated[str | None, typer.Option("--output", "-o", help="yaml, json or name")] = None,
    ) -> None:
        """List runs, newest first (tkn's columns; -A every namespace)."""
        from tektite.api.scheme import KINDS
        from tektite.store.base import ALL_NAMESPACES

        store = STATE.cluster().store
        namespace = ALL_NAMESPACES if all_namespaces else STATE.namespace
        runs = (
            store.list(kind, namespace, label_selector=label, order="-created", limit=limit).items
            if limit
            else list(store.scan(kind, LIST_PAGE, label, namespace, order="-created"))
        )
        if reverse:
            runs.reverse()
        if output is not None:
            if output not in ("yaml", "json", "name"):
                raise TektiteError(f'unknown --output "{output}"; expected yaml, json or name')
            print_objects(KINDS[kind], runs, output)
            return
        rows = [
            [
                *([o["metadata"].get("namespace", "")] if all_namespaces else []),
                o["metadata"]["name"],
                ago((o.get("status") or {}).get("startTime")),
                duration(o),
                run_status(o),
            ]
            for o in runs
        ]
        if not rows:
            err(f"No {kind}s found")
            return
        headers = [*(["NAMESPACE"] if all_namespaces else []), "NAME", "STARTED", "DURATION", "STATUS"]
        text = table(rows, headers)
        out("\n".join(text.splitlines()[1:]) if no_headers else text)

    @group.command("describe")
    def describe_(
        name: Annotated[str | None, typer.Argument()] = None,
        last: Annotated[bool, typer.Option("--last", "-L")] = False,
        output: DescribeOutput = None,
    ) -> None:
        """Describe a run (tkn's view; -o yaml|json: the object)."""
        obj = STATE.cluster().store.get(kind, latest(name, last), STATE.namespace)
        if not _printed_as(obj, output):
            out(describe_run(obj) + _caches_used(obj))

    @group.command("logs")
    def logs_(
        name: Annotated[str | None, typer.Argument()] = None,
        follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
        last: Annotated[bool, typer.Option("--last", "-L")] = False,
        step: Annotated[list[str] | None, typer.Option("--step", "-s")] = None,
        task: Annotated[
            list[str] | None, typer.Option("--task", "-t", help="only this pipeline task's logs (repeatable)")
        ] = None,
        log_failed: Annotated[
            bool, typer.Option("--log-failed", help="PipelineRuns: only the logs of tasks that failed")
        ] = False,
        prefix: Annotated[
            str,
            typer.Option(
                "--prefix",
                help="true (default) or false: [task : step] before each line (tkn's --prefix=false)",
            ),
        ] = "true",
        all_: Annotated[
            bool,
            typer.Option("--all", "-a", help="tkn's init steps too: tektite runs none, so the same logs"),
        ] = False,
        exit_with_error: Annotated[
            bool,
            typer.Option(
                "--exit-with-pipelinerun-error",
                "-E",
                help="exit 0 if the run succeeded, 1 if it failed, 2 if it has not finished",
            ),
        ] = False,
    ) -> None:
        """Show (and with -f follow) a run's step logs, prefixed like tkn."""
        del all_  # accepted for tkn scripts: tektite runs no init containers
        if kind == "CustomRun":
            raise TektiteError("a CustomRun has no step logs: its controller runs it (see describe)")
        if (task or log_failed) and kind != "PipelineRun":
            raise TektiteError(
                "--task and --log-failed pick pipeline tasks' logs: they apply to pipelinerun logs"
            )
        if prefix.lower() not in ("true", "false"):
            raise TektiteError(f'--prefix takes true or false, found "{prefix}"')
        run_name = latest(name, last)
        _show_logs(
            kind, run_name, follow, step, task, prefix=prefix.lower() == "true", failed_only=log_failed
        )
        if exit_with_error:
            obj = STATE.cluster().store.get(kind, run_name, STATE.namespace)
            state = (get_condition(obj) or {}).get("status")
            raise typer.Exit(0 if state == "True" else 1 if state == "False" else 2)

    if kind != "CustomRun":

        @group.command("rerun")
        def rerun_(
            name: Annotated[str | None, typer.Argument()] = None,
            last: Annotated[bool, typer.Option("--last", "-L", help="the newest run")] = False,
            from_failure: Annotated[
                bool,
                typer.Option(
                    "--from-failure",
                    help="PipelineRuns: reuse the tasks that succeeded (same Task, same inputs); "
                    "run the failed ones and what follows them",
                ),
            ] = False,
            param: ParamOpt = None,
            showlog: Annotated[bool, typer.Option("--showlog", help="stream the logs")] = False,
            output: Annotated[
                str | None, typer.Option("--output", "-o", help="print the new run: yaml, json or name")
            ] = None,
            executor: ExecOpt = None,
        ) -> None:
            """Run again with the same spec (as the dashboard's Rerun), -p changing params;
            --from-failure reuses the tasks that succeeded with the same Task and inputs."""
            from tektite.controller.rerun import rerun_object

            if output is not None and output not in _OUTPUTS:
                raise TektiteError(f'unknown --output "{output}"; expected one of {", ".join(_OUTPUTS)}')
            cluster = STATE.cluster()
            old = cluster.store.get(kind, latest(name, last), STATE.namespace)
            new = _override(
                cluster, rerun_object(old, from_failure=from_failure), parse_kv(param, "param"), []
            )
            _run_created(cluster, cluster.create(new), output, showlog, executor)

    @group.command("export")
    def export_(name: str) -> None:
        """Print the run as YAML to create it again (tkn export): no status, no server-set fields."""
        out(_exported(STATE.cluster().store.get(kind, name, STATE.namespace)))

    @group.command("cancel")
    def cancel_(
        name: str,
        grace: Annotated[
            str | None,
            typer.Option(
                "--grace", help="cancel (run finally) or stop (let running tasks finish, then finally)"
            ),
        ] = None,
    ) -> None:
        """Cancel a run (PipelineRuns: optionally gracefully)."""
        store = STATE.cluster().store
        obj = store.get(kind, name, STATE.namespace)
        if is_done(obj):
            raise TektiteError(f'{kind} "{name}" has already finished ({run_status(obj)}); nothing to cancel')
        if kind == "PipelineRun":
            value = {None: "Cancelled", "cancel": "CancelledRunFinally", "stop": "StoppedRunFinally"}.get(
                grace
            )
            if value is None:
                raise TektiteError(f'invalid --grace "{grace}"; expected cancel or stop')
        elif grace is not None:
            raise TektiteError(f"--grace applies to PipelineRuns; a {kind} is cancelled at once")
        else:
            value = "TaskRunCancelled" if kind == "TaskRun" else "RunCancelled"
        obj["spec"]["status"] = value
        if kind == "CustomRun":  # its controller reports this message (customruns.md, Cancellation)
            obj["spec"]["statusMessage"] = "CustomRun cancelled by the user"
        store.update(obj)
        out(f"{kind} cancelled: {name}")

    @group.command("delete")
    def delete_(
        names: Annotated[list[str] | None, typer.Argument()] = None,
        keep: Annotated[int | None, typer.Option("--keep", help="keep the N most recent runs")] = None,
        keep_since: Annotated[
            int | None, typer.Option("--keep-since", help="keep runs newer than MIN minutes")
        ] = None,
        all_: Annotated[bool, typer.Option("--all")] = False,
        of: Annotated[
            str | None,
            typer.Option(
                "--pipeline",
                "-p",
                "--task",
                "-t",
                help="the runs of this Pipeline (pipelinerun delete -p) or Task (taskrun delete -t)",
            ),
        ] = None,
        label: Annotated[str | None, typer.Option("--label", help="only runs with these labels")] = None,
        force: Annotated[bool, typer.Option("--force", "-f", help="tkn's: tektite does not ask")] = False,
    ) -> None:
        """Delete runs by name, or prune: --all, --keep N, --keep-since MIN, -p/-t, --label
        (running runs are kept)."""
        del force  # accepted for tkn scripts: nothing is asked
        cluster = STATE.cluster()
        targets = list(names or [])
        if (of or label) and targets:
            raise TektiteError("name the runs to delete, or select them with -p/-t/--label, not both")
        if of and kind not in _REF_LABEL:
            raise TektiteError(
                f"-p/-t select PipelineRuns or TaskRuns by what they run; a {kind} runs neither"
            )
        if (of or label) and keep is None and keep_since is None:
            all_ = True  # tkn: `pipelinerun delete -p build` deletes the runs of build
        selector = ",".join([*([f"{_REF_LABEL[kind]}={of}"] if of else []), *([label] if label else [])])
        if keep is not None or keep_since is not None or all_ or selector:
            items = cluster.store.list(kind, STATE.namespace, label_selector=selector or None).items
            retention = Retention(0 if all_ else keep, None if all_ else keep_since)
            chains_on = _chains_enabled(cluster)
            chosen = select(items, retention, datetime.now(UTC), chains_on)
            targets += [o["metadata"]["name"] for o in chosen]
            held = [o for o in items if o not in chosen and is_done(o) and protection(o, chains_on)]
            for o in held:
                err(f'keeping {kind} "{o["metadata"]["name"]}": {protection(o, chains_on)}')
        if not targets:
            err(f"No {kind}s to delete")
            return
        for n in targets:
            remaining = cluster.delete(kind, n, STATE.namespace)
            held = [o for o in remaining if (o.get("metadata") or {}).get("deletionTimestamp")]
            if any(o["metadata"]["name"] == n for o in held):
                out(f'{kind} "{n}" is being deleted (waiting for signing to finish)')
            else:
                out(f'{kind} "{n}" deleted')

    if kind == "CustomRun":
        _approval_commands(group)
    return group


def _approval_commands(group: typer.Typer) -> None:
    """``approve`` / ``reject`` for the built-in Approval Custom Task (controller/custom.py)."""

    def decide(name: str, decision: str, who: str | None, message: str | None) -> None:
        import getpass
        import json as jsonlib

        from tektite.controller import custom
        from tektite.core.conditions import now

        user = who or os.environ.get("USER") or getpass.getuser()
        store = STATE.cluster().store
        for _ in range(5):
            obj = store.get("CustomRun", name, STATE.namespace)
            if custom.target(obj) != custom.APPROVAL:
                group_, kind_ = custom.target(obj)
                raise TektiteError(
                    f'CustomRun "{name}" runs {kind_} ({group_ or "no API group"}), not an Approval; '
                    "nothing to approve"
                )
            if is_done(obj):
                raise TektiteError(f'CustomRun "{name}" has already finished ({run_status(obj)})')
            approvers = custom.approval_params(obj.get("spec") or {})[0]
            if approvers and user not in approvers:
                raise TektiteError(
                    f'{user} is not an approver of CustomRun "{name}"; its approvers: {", ".join(approvers)}',
                    hint="--as NAME decides as one of them",
                )
            made = custom.decisions(obj)
            if any(d.get("name") == user for d in made):
                raise TektiteError(f'{user} has already decided on CustomRun "{name}"')
            entry = {
                "name": user,
                "decision": decision,
                "time": now(),
                **({"message": message} if message else {}),
            }
            notes = obj["metadata"].setdefault("annotations", {})
            notes[custom.APPROVALS_ANNOTATION] = jsonlib.dumps([*made, entry], separators=(",", ":"))
            try:
                store.update(obj)
            except Conflict:
                continue
            out(f"CustomRun {name}: {decision}d by {user}")
            return
        raise TektiteError(f'CustomRun "{name}" kept changing; try again')

    def command(decision: str, doc: str) -> None:
        def decide_cmd(
            name: str,
            who: Annotated[
                str | None, typer.Option("--as", help="decide as this approver (default: $USER)")
            ] = None,
            message: Annotated[str | None, typer.Option("--message", "-m")] = None,
        ) -> None:
            decide(name, decision, who, message)

        decide_cmd.__doc__ = doc
        group.command(decision)(decide_cmd)

    command("approve", "Approve an Approval CustomRun (a manual approval gate).")
    command("reject", "Reject an Approval CustomRun: the run fails, and its PipelineRun with it.")


def _chains_enabled(cluster: Cluster) -> bool:
    """Whether finished runs get signed here (embedded default: on); then unsigned runs are kept."""
    import importlib.util

    del cluster
    return importlib.util.find_spec("tektite.chains.watcher") is not None


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.add_typer(task_app, name="task")
    app.add_typer(pipeline_app, name="pipeline")
    tr = _run_group("TaskRun")
    pr = _run_group("PipelineRun")
    app.add_typer(tr, name="taskrun")
    app.add_typer(tr, name="tr", hidden=True)
    app.add_typer(pr, name="pipelinerun")
    app.add_typer(pr, name="pr", hidden=True)
    app.add_typer(_run_group("CustomRun"), name="customrun")


# -- trusted resources: tkn task|pipeline sign|verify ------------------------------------------------
def _key_signer(key_file: Path | None, kms_key: str | None) -> Any:
    """The signer of ``-K cosign.key`` (password from $COSIGN_PASSWORD or a prompt) or ``-m pkcs11:...``."""
    from tektite.chains.signing import load_signer

    if bool(key_file) == bool(kms_key):
        raise TektiteError("give the key: -K KEYFILE or -m KMS-URI (one of them)")
    if kms_key:
        return load_signer("kms", kmsref=kms_key)
    assert key_file is not None
    from tektite.chains.signing.keyfiles import password_for_keyfile

    return load_signer("x509", key_file=key_file, password=password_for_keyfile(key_file))


KeyFileOpt = Annotated[Path | None, typer.Option("--key-file", "-K", help="cosign.key, or a PEM private key")]
KmsKeyOpt = Annotated[str | None, typer.Option("--kms-key", "-m", help="a pkcs11: key URI")]


def _trust_commands(group: typer.Typer, ref_kind: str) -> None:

    def sign(
        file: Annotated[str, typer.Argument(help="the file (one Task or Pipeline)")],
        key_file: KeyFileOpt = None,
        kms_key: KmsKeyOpt = None,
        file_name: Annotated[
            Path | None,
            typer.Option("--file-name", "-f", help="write the signed file here (default: stdout)"),
        ] = None,
    ) -> None:
        import yaml

        from tektite.resolution import trust

        obj = _from_file(file, ref_kind)
        signed = trust.signed_copy(obj, _key_signer(key_file, kms_key).sign, where=file)
        text = yaml.safe_dump(signed, sort_keys=False)
        if file_name is None:
            out(text.rstrip())
            return
        try:
            file_name.write_text(text)
        except OSError as exc:
            raise TektiteError(f"cannot write the signed file: {exc.strerror}", file=str(file_name)) from None
        err(f"{ref_kind} {obj['metadata'].get('name')} signed: {file_name}")

    def verify(
        file: Annotated[str, typer.Argument(help="the signed file (one Task or Pipeline)")],
        key_file: Annotated[
            Path | None, typer.Option("--key-file", "-K", help="the public key (cosign.pub)")
        ] = None,
        kms_key: KmsKeyOpt = None,
    ) -> None:
        from tektite.resolution import trust

        obj = _from_file(file, ref_kind)
        name = obj.get("metadata", {}).get("name")
        if bool(key_file) == bool(kms_key):
            raise TektiteError("give the key: -K PUBLIC-KEY-FILE or -m KMS-URI (one of them)")
        if kms_key:
            public = _key_signer(None, kms_key).public_key()
        else:
            assert key_file is not None
            try:
                public = trust.load_public_key(key_file.read_bytes(), source=str(key_file))
            except OSError as exc:
                raise TektiteError(
                    f"cannot read the public key: {exc.strerror}", file=str(key_file)
                ) from None
        signature = trust.signature_of(obj)
        if signature is None:
            raise TektiteError(
                f'{ref_kind} "{name}" is not signed: no {trust.SIGNATURE_ANNOTATION} annotation', file=file
            )
        if not trust.signed_with(public, signature, trust.signing_digest(obj, file)):
            raise TektiteError(
                f'{ref_kind} "{name}" fails verification: its signature is not of this key, or it changed after signing',
                file=file,
            )
        out(f"{ref_kind} {name} passes verification")

    group.command(
        "sign", help=f"Sign a {ref_kind} file (trusted resources: the tekton.dev/signature annotation)."
    )(sign)
    group.command("verify", help=f"Verify a signed {ref_kind} file with a public key (trusted resources).")(
        verify
    )


_trust_commands(task_app, "Task")
_trust_commands(pipeline_app, "Pipeline")
