"""Triggers commands, like tkn's: ``eventlistener list|describe|events|send|delete`` and
``triggerbinding|clustertriggerbinding|triggertemplate|trigger list|describe|delete``.

``tektite eventlistener events NAME`` lists what happened to each event the listener received
(tektite's ``TriggerEvent`` records); ``send`` pushes one event through a listener in this process,
without a server (``--curl curl.sh`` replays an example's request).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from tektite.cli.common import STATE, age, err, out, table
from tektite.errors import TektiteError
from tektite.triggers import records
from tektite.triggers.curl import parse_curl
from tektite.triggers.templates import PORT_ANNOTATION

JSON = dict[str, Any]

OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="json or yaml")]
AllNsOpt = Annotated[bool, typer.Option("--all-namespaces", "-A")]


def _dump(data: Any, output: str) -> None:
    if output == "json":
        out(json.dumps(data, indent=2))
    elif output == "yaml":
        out(yaml.safe_dump(data, sort_keys=False).rstrip())
    else:
        raise TektiteError(f'unknown output format "{output}"; expected json or yaml')


def _section(title: str, rows: list[list[str]], headers: list[str]) -> list[str]:
    if not rows:
        return ["", title, "", " No " + title.split(" ", 1)[-1].lower()]
    return ["", title, "", table(rows, headers)]


def listener_url(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    addr = ((obj.get("status") or {}).get("address") or {}).get("url")
    if addr:
        return str(addr)
    port = (meta.get("annotations") or {}).get(PORT_ANNOTATION)
    path = f"/el/{meta.get('namespace', 'default')}/{meta.get('name')}"
    return f"{path} (and :{port}/)" if port else path


def _interceptor_text(ic: JSON) -> str:
    ref = ic.get("ref") or {}
    if ref:
        what = f"{ref.get('kind') or 'ClusterInterceptor'}/{ref.get('name')}"
    elif ic.get("webhook"):
        hook = ic["webhook"]
        target = hook.get("url") or "Service/" + str((hook.get("objectRef") or {}).get("name"))
        what = f"webhook {target}"
    else:
        what = next((f"{k} (legacy)" for k in ("github", "gitlab", "cel", "bitbucket") if k in ic), "?")
    return f"{ic['name']}: {what}" if ic.get("name") else what


def _trigger_lines(spec: JSON, indent: str = " ") -> list[str]:
    lines = []
    for ic in spec.get("interceptors") or []:
        lines.append(f"{indent}interceptor: {_interceptor_text(ic)}")
    for b in spec.get("bindings") or []:
        if b.get("ref"):
            lines.append(f"{indent}binding: {b.get('kind') or 'TriggerBinding'}/{b['ref']}")
        else:
            lines.append(f"{indent}binding: {b.get('name')} = {b.get('value')}")
    tmpl = spec.get("template") or {}
    if tmpl.get("ref"):
        lines.append(f"{indent}template: TriggerTemplate/{tmpl['ref']}")
    elif tmpl.get("spec") is not None:
        kinds = [r.get("kind", "?") for r in (tmpl["spec"].get("resourcetemplates") or [])]
        lines.append(f"{indent}template: (embedded) {', '.join(kinds)}")
    return lines


def _event_detail(ev: JSON) -> str:
    st = ev.get("status") or {}
    created = [
        f"{c.get('kind')} {c.get('name')}" for t in st.get("triggers") or [] for c in t.get("created") or []
    ]
    if created:
        return "created " + ", ".join(created)
    reasons = []
    for t in st.get("triggers") or []:
        who = t.get("name") or t.get("triggerGroup") or "?"
        if t.get("stoppedBy"):
            reasons.append(f"{who}: stopped by {t['stoppedBy']}: {t.get('reason', '')}")
        elif t.get("reason"):
            reasons.append(f"{who}: {t['reason']}")
    if reasons:
        return "; ".join(reasons)
    return str(st.get("message") or ("no triggers" if st.get("status") == "no-triggers" else ""))


# -- eventlistener ---------------------------------------------------------------------------------

el_app = typer.Typer(help="EventListeners: list, describe, events, send, delete.", no_args_is_help=True)


@el_app.command("list")
def el_list(all_namespaces: AllNsOpt = False, output: OutputOpt = None) -> None:
    """List EventListeners with their URL and last event."""
    store = STATE.cluster().store
    items = store.list("EventListener", "*" if all_namespaces else STATE.namespace).items
    if output:
        _dump({"apiVersion": "v1", "kind": "List", "items": items}, output)
        return
    if not items:
        err("No EventListeners found")
        return
    rows = []
    for o in items:
        meta = o["metadata"]
        last = records.list_events(store, meta.get("namespace", "default"), meta["name"], limit=1).items
        last_text = (
            f"{(last[0].get('status') or {}).get('status')} {age(last[0]['metadata'].get('creationTimestamp'))} ago"
            if last
            else "---"
        )
        row = [meta["name"], age(meta.get("creationTimestamp")), listener_url(o), last_text]
        rows.append([meta.get("namespace", ""), *row] if all_namespaces else row)
    headers = ["NAME", "AGE", "URL", "LAST EVENT"]
    out(table(rows, ["NAMESPACE", *headers] if all_namespaces else headers))


@el_app.command("describe")
def el_describe(name: str, output: OutputOpt = None) -> None:
    """Show an EventListener: URL, triggers, groups, selectors and recent events."""
    store = STATE.cluster().store
    obj = store.get("EventListener", name, STATE.namespace)
    if output:
        _dump(obj, output)
        return
    meta, spec = obj["metadata"], obj.get("spec") or {}
    lines = [
        f"Name:              {meta['name']}",
        f"Namespace:         {meta.get('namespace', '')}",
        f"URL:               {listener_url(obj)}",
        f"Service Account:   {spec.get('serviceAccountName') or '---'}",
    ]
    ns_sel = (spec.get("namespaceSelector") or {}).get("matchNames")
    if ns_sel:
        lines.append(f"Namespaces:        {', '.join(ns_sel)}")
    if spec.get("labelSelector"):
        lines.append(f"Label Selector:    {json.dumps(spec['labelSelector'])}")
    if spec.get("cloudEventURI"):
        lines.append(f"CloudEvents to:    {spec['cloudEventURI']}")
    lines += ["", "⚡ Triggers", ""]
    if not spec.get("triggers"):
        lines.append(" No triggers in the spec")
    for t in spec.get("triggers") or []:
        if t.get("triggerRef"):
            lines.append(f" - triggerRef: {t['triggerRef']}")
            continue
        lines.append(f" - {t.get('name') or '(unnamed)'}")
        lines.extend(_trigger_lines(t, "     "))
    for g in spec.get("triggerGroups") or []:
        lines += ["", f"👥 Trigger group {g.get('name') or '(unnamed)'}"]
        lines.extend(f"     interceptor: {_interceptor_text(ic)}" for ic in g.get("interceptors") or [])
        lines.append(f"     selects: {json.dumps(g.get('triggerSelector') or {})}")
    events = records.list_events(store, meta.get("namespace", "default"), name, limit=5).items
    rows = [
        [
            " " + e["metadata"]["name"],
            age(e["metadata"].get("creationTimestamp")),
            str((e.get("status") or {}).get("status")),
            _event_detail(e),
        ]
        for e in events
    ]
    lines += _section("📨 Recent Events", rows, [" EVENT ID", "AGE", "STATUS", "DETAIL"])
    out("\n".join(lines))


@el_app.command("events")
def el_events(
    name: str,
    output: OutputOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="at most this many, newest first (0: all)")] = 20,
    status: Annotated[
        str | None, typer.Option("--status", help="accepted, rejected, failed, invalid or no-triggers")
    ] = None,
    continue_token: Annotated[str | None, typer.Option("--continue", help="next page token")] = None,
) -> None:
    """What happened to each event: objects created, or which interceptor stopped it and why."""
    store = STATE.cluster().store
    store.get("EventListener", name, STATE.namespace)
    page = records.list_events(
        store, STATE.namespace, name, status=status, limit=limit or None, continue_token=continue_token
    )
    if output:
        data: JSON = {"apiVersion": "v1", "kind": "List", "items": page.items}
        if page.continue_token:
            data["metadata"] = {"continue": page.continue_token}
        _dump(data, output)
        return
    if not page.items:
        err(f'No events recorded for EventListener "{name}"')
        return
    rows = [
        [
            e["metadata"]["name"],
            str((e.get("spec") or {}).get("receivedAt", "")),
            str((e.get("status") or {}).get("status", "")),
            str((e.get("status") or {}).get("responseCode", "")),
            _event_detail(e),
        ]
        for e in page.items
    ]
    out(table(rows, ["EVENT ID", "RECEIVED", "STATUS", "CODE", "DETAIL"]))
    if page.continue_token:
        err(f"more: --continue {page.continue_token}")


@el_app.command("send")
def el_send(
    name: str,
    data: Annotated[str | None, typer.Option("--data", "-d", help="the body, or @FILE")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value'")] = None,
    curl: Annotated[
        Path | None, typer.Option("--curl", help="replay the request of a curl command/script")
    ] = None,
    reject_status: Annotated[int | None, typer.Option("--reject-status")] = None,
) -> None:
    """Push one event through the listener in this process (no server needed)."""
    if curl is not None:
        try:
            text = curl.read_text()
        except OSError as exc:
            raise TektiteError(f"{curl}: cannot read: {exc}") from None
        req = parse_curl(text, base_dir=curl.parent, source=str(curl))
        body, headers = req.body, [(k, v) for k, v in req.headers if k.lower() != "host"]
    else:
        body = b""
        if data is not None:
            if data.startswith("@"):
                try:
                    body = sys.stdin.buffer.read() if data == "@-" else Path(data[1:]).read_bytes()
                except OSError as exc:
                    raise TektiteError(f"{data[1:]}: cannot read: {exc}") from None
            else:
                body = data.encode()
        headers = []
        for h in header or []:
            k, sep, v = h.partition(":")
            if not sep:
                raise TektiteError(f'invalid header "{h}"; expected "Name: value"')
            headers.append((k.strip(), v.strip()))
        if body and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
    from tektite.triggers.sink import Incoming, Sink  # HTTP clients: only this command

    sink = Sink(STATE.cluster())
    try:
        url = f"http://localhost/el/{STATE.namespace}/{name}"
        result = sink.handle(STATE.namespace, name, Incoming(body, headers, url), reject_status=reject_status)
    finally:
        sink.close()
    out(json.dumps(result.response_body(), indent=2))
    err(f"{result.response_code} {result.status}: {_event_detail_from(result)}")
    if result.status != "accepted":
        raise typer.Exit(1)


def _event_detail_from(result: Any) -> str:
    created = [f"{c['kind']} {c['namespace']}/{c['name']}" for c in result.created()]
    if created:
        return "created " + ", ".join(created)
    reasons = [f"{t.trigger or t.group}: {t.reason}" for t in result.triggers if t.reason]
    return "; ".join(reasons) or result.message or "no triggers ran"


@el_app.command("delete")
def el_delete(names: list[str]) -> None:
    """Delete EventListeners (their event records go with them)."""
    cluster = STATE.cluster()
    for n in names:
        cluster.delete("EventListener", n, STATE.namespace)
        out(f'eventlistener "{n}" deleted')


# -- bindings, templates, triggers -------------------------------------------------------------------


def _describe_binding(obj: JSON) -> list[str]:
    rows = [
        [" " + p.get("name", ""), str(p.get("value", ""))]
        for p in (obj.get("spec") or {}).get("params") or []
    ]
    return _section("⚓ Params", rows, [" NAME", "VALUE"])


def _describe_template(obj: JSON) -> list[str]:
    spec = obj.get("spec") or {}
    params = [
        [" " + p.get("name", ""), p.get("description") or "---", p.get("default", "---")]
        for p in spec.get("params") or []
    ]
    res = [
        [
            " "
            + str(
                (r.get("metadata") or {}).get("name")
                or (r.get("metadata") or {}).get("generateName", "") + "*"
            ),
            str(r.get("kind")),
            str(r.get("apiVersion")),
        ]
        for r in spec.get("resourcetemplates") or []
    ]
    return _section("⚓ Params", params, [" NAME", "DESCRIPTION", "DEFAULT"]) + _section(
        "📦 ResourceTemplates", res, [" NAME", "KIND", "APIVERSION"]
    )


def _describe_trigger(obj: JSON) -> list[str]:
    spec = obj.get("spec") or {}
    lines = ["", "⚡ Spec", ""]
    if spec.get("serviceAccountName"):
        lines.append(f" serviceAccountName: {spec['serviceAccountName']}")
    return lines + _trigger_lines(spec)


def _simple_group(kind: str, plural: str, describer: Any) -> typer.Typer:
    namespaced = kind != "ClusterTriggerBinding"
    group = typer.Typer(help=f"{kind}s: list, describe, delete.", no_args_is_help=True)

    @group.command("list")
    def list_(all_namespaces: AllNsOpt = False, output: OutputOpt = None) -> None:
        scope = "*" if all_namespaces or not namespaced else STATE.namespace
        items = STATE.cluster().store.list(kind, scope).items
        if output:
            _dump({"apiVersion": "v1", "kind": "List", "items": items}, output)
            return
        if not items:
            err(f"No {plural} found")
            return
        rows = [[o["metadata"]["name"], age(o["metadata"].get("creationTimestamp"))] for o in items]
        if all_namespaces and namespaced:
            rows = [[o["metadata"].get("namespace", ""), *r] for o, r in zip(items, rows, strict=True)]
            out(table(rows, ["NAMESPACE", "NAME", "AGE"]))
        else:
            out(table(rows, ["NAME", "AGE"]))

    @group.command("describe")
    def describe_(name: str, output: OutputOpt = None) -> None:
        obj = STATE.cluster().store.get(kind, name, STATE.namespace if namespaced else None)
        if output:
            _dump(obj, output)
            return
        meta = obj["metadata"]
        lines = [f"Name:        {meta['name']}"]
        if namespaced:
            lines.append(f"Namespace:   {meta.get('namespace', '')}")
        out("\n".join(lines + describer(obj)))

    @group.command("delete")
    def delete_(names: list[str]) -> None:
        cluster = STATE.cluster()
        for n in names:
            cluster.delete(kind, n, STATE.namespace if namespaced else None)
            out(f'{kind.lower()} "{n}" deleted')

    list_.__doc__ = f"List {plural}."
    describe_.__doc__ = f"Show one {kind}."
    delete_.__doc__ = f"Delete {plural}."
    return group


def register(app: typer.Typer) -> None:
    app.add_typer(el_app, name="eventlistener")
    app.add_typer(el_app, name="el", hidden=True)
    for kind, plural, describer, names in (
        ("TriggerBinding", "TriggerBindings", _describe_binding, ("triggerbinding", "tb")),
        (
            "ClusterTriggerBinding",
            "ClusterTriggerBindings",
            _describe_binding,
            ("clustertriggerbinding", "ctb"),
        ),
        ("TriggerTemplate", "TriggerTemplates", _describe_template, ("triggertemplate", "tt")),
        ("Trigger", "Triggers", _describe_trigger, ("trigger", "tri")),
    ):
        grp = _simple_group(kind, plural, describer)
        app.add_typer(grp, name=names[0])
        app.add_typer(grp, name=names[1], hidden=True)
