"""Shared CLI plumbing: the cluster handle, file loading, printing objects like kubectl/tkn."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tektite.api.loader import Document, load_text
from tektite.api.scheme import KINDS, Kind, find_kind, kind_names
from tektite.core.conditions import get_condition, parse_time
from tektite.errors import TektiteError

if TYPE_CHECKING:
    from tektite.controller.cluster import Cluster

JSON = dict[str, Any]


@dataclass
class State:
    home: Path | None = None
    verbose: bool = False
    namespace: str = "default"
    server: str | None = None  # --server / TEKTITE_SERVER: talk to `tektite serve` instead
    token: str | None = None
    _cluster: Cluster | None = None

    def cluster(self) -> Cluster:
        if self._cluster is None:
            from tektite.controller.cluster import Cluster  # the store (SQLAlchemy): only when used

            self._cluster = remote_cluster(self.server, self.token) if self.server else Cluster(self.home)
        return self._cluster

    def forget_cluster(self) -> None:
        """Close the cluster of a previous command in this process (tests, a program calling
        :func:`tektite.cli.main.main` more than once): each command opens its own ``--home``."""
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def remote_cluster(url: str, token: str | None) -> Cluster:
    """A Cluster whose store is the server's API. Its home is a private scratch directory whose
    engine lock this process holds, so no local engine runs: the server executes the runs."""
    import atexit
    import fcntl
    import os
    import shutil
    import tempfile

    from tektite.controller.cluster import Cluster
    from tektite.server.client import RemoteStore

    scratch = Path(tempfile.mkdtemp(prefix="tektite-remote-"))
    fd = os.open(scratch / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until the process exits
    atexit.register(shutil.rmtree, scratch, True)
    return Cluster(scratch, store=RemoteStore.from_env(url, token))


STATE = State()


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def load_files(paths: Iterable[str]) -> list[Document]:
    """``-f FILE|DIR|-``: every YAML/JSON document, directories recursively in name order."""
    docs: list[Document] = []
    for p in paths:
        if p == "-":
            docs.extend(load_text(sys.stdin.read(), "<stdin>"))
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(
                f for f in path.rglob("*") if f.suffix in (".yaml", ".yml", ".json") and f.is_file()
            )
        elif path.is_file():
            files = [path]
        else:
            raise TektiteError(f"{p}: no such file or directory")
        for f in files:
            try:
                text = f.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise TektiteError(f"{f}: cannot read: {exc}") from None
            docs.extend(load_text(text, str(f)))
    return docs


def kind_arg(name: str) -> Kind:
    kind = find_kind(name)
    if kind is None:
        raise TektiteError(f'unknown resource type "{name}"; known types: {", ".join(kind_names())}')
    return kind


def age(ts: str | None) -> str:
    t = parse_time(ts)
    if t is None:
        return "---"
    seconds = (datetime.now(UTC) - t).total_seconds()
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def ago(ts: str | None) -> str:
    t = parse_time(ts)
    if t is None:
        return "---"
    seconds = int((datetime.now(UTC) - t).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{seconds} second{'s' if seconds != 1 else ''} ago"


def duration(obj: JSON) -> str:
    status = obj.get("status") or {}
    start = parse_time(status.get("startTime"))
    end = parse_time(status.get("completionTime"))
    if start is None:
        return "---"
    end = end or datetime.now(UTC)
    secs = int((end - start).total_seconds())
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60}s"
    return f"{secs // 3600}h{(secs % 3600) // 60}m"


def run_status(obj: JSON) -> str:
    cond = get_condition(obj)
    if not cond:
        return "---"
    return str(cond.get("reason") or cond.get("status"))


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]
    ]
    return "\n".join(lines)


LIST_PAGE = 500  # objects a listing command reads per query (Store.scan: a table row each, then dropped)
RUN_KINDS = ("TaskRun", "PipelineRun", "CustomRun")  # kinds listed with run columns (as kubectl prints them)


def headers_for(kind: Kind, wide: bool = False) -> list[str]:
    headers = (
        ["NAME", "SUCCEEDED", "REASON", "STARTTIME", "COMPLETIONTIME"]
        if kind.kind in RUN_KINDS
        else ["NAME", "AGE"]
    )
    return [*headers, "NAMESPACE"] if wide and kind.namespaced else headers


def row_for(kind: Kind, o: JSON, wide: bool = False) -> list[str]:
    if kind.kind in RUN_KINDS:
        cond = get_condition(o) or {}
        st = o.get("status") or {}
        row = [
            o["metadata"]["name"],
            cond.get("status", "Unknown") if cond else "Unknown",
            cond.get("reason", "") or "",
            age(st.get("startTime")),
            age(st.get("completionTime")),
        ]
    else:
        row = [o["metadata"]["name"], age(o["metadata"].get("creationTimestamp"))]
    return [*row, o["metadata"].get("namespace", "")] if wide and kind.namespaced else row


def print_objects(kind: Kind, items: list[JSON], output: str | None, single: bool = False) -> None:
    if output in ("yaml", "json"):
        if single and len(items) == 1:
            data: Any = items[0]
        else:
            data = {"apiVersion": "v1", "kind": "List", "items": items}
        if output == "json":
            out(json.dumps(data, indent=2))
        else:
            out(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
        return
    if output == "name":
        for o in items:
            group = KINDS[o["kind"]].group if o["kind"] in KINDS else ""
            out(f"{o['kind'].lower()}{'.' + group if group else ''}/{o['metadata']['name']}")
        return
    if output not in (None, "", "wide"):
        raise TektiteError(f'unknown output format "{output}"; expected yaml, json, name or wide')
    if not items:
        err(f"No {kind.plural} found")
        return
    wide = output == "wide"
    out(table([row_for(kind, o, wide) for o in items], headers_for(kind, wide)))


def parse_kv(values: list[str] | None, what: str) -> dict[str, str]:
    outd: dict[str, str] = {}
    for v in values or []:
        if "=" not in v:
            raise TektiteError(f'invalid {what} "{v}"; expected NAME=VALUE')
        k, _, val = v.partition("=")
        outd[k.strip()] = val
    return outd


def param_value(value: str, declared_type: str | None = None) -> Any:
    """tkn's ``-p name=v1,v2`` is an array when the param is an array; ``-p obj=k:v,k2:v2``."""
    if declared_type == "array":
        return [v for v in value.split(",")] if value else []
    if declared_type == "object":
        outd = {}
        for pair in value.split(","):
            k, _, v = pair.partition(":")
            outd[k] = v
        return outd
    return value


_WS_SOURCES = ("emptyDir", "claimName", "config", "secret", "volumeClaimTemplateFile", "csiFile", "cache")
_WS_KEYS = ("name", "subPath", "item", "fallbackKey", "cachePolicy", *_WS_SOURCES)


def read_yaml_mapping(path: str, what: str) -> JSON:
    """A YAML file holding a mapping (a pod template, a volume claim template); ``what`` names it in errors."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise TektiteError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TektiteError(f"{path}: the {what} file is not YAML ({exc})") from None
    if not isinstance(data, dict):
        raise TektiteError(f"{path}: the {what} file must hold a mapping, found {type(data).__name__}")
    return data


def workspace_binding(spec: str) -> JSON:
    """tkn's ``-w`` syntax: ``name=WS`` and one of ``emptyDir=[MEDIUM]``, ``claimName=PVC``,
    ``config=CM``, ``secret=S`` (both with ``item=KEY=PATH``, repeatable),
    ``volumeClaimTemplateFile=FILE``, ``csiFile=FILE``; ``subPath=P`` with any. tektite's own:
    ``cache=KEY`` (a keyed cache, docs/caches.md) with ``fallbackKey=PREFIX`` (repeatable) and
    ``cachePolicy=pull-push|pull|push``."""
    fields: dict[str, str] = {}
    items: list[JSON] = []
    fallback: list[str] = []
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _WS_KEYS:
            raise TektiteError(
                f'invalid workspace "{spec}": unknown part "{part}"; expected name=WS with one of '
                "emptyDir=, claimName=PVC, config=CM, secret=SECRET, volumeClaimTemplateFile=FILE, "
                "csiFile=FILE, cache=KEY (and subPath=P, item=KEY=PATH, fallbackKey=PREFIX, cachePolicy=P)"
            )
        if key == "fallbackKey":
            fallback.append(value)
            continue
        if key == "item":
            item_key, _, path = value.partition("=")
            if not item_key or not path:
                raise TektiteError(f'invalid workspace "{spec}": item takes KEY=PATH, found "{value}"')
            items.append({"key": item_key, "path": path})
            continue
        fields[key] = value
    name = fields.pop("name", None)
    if not name:
        raise TektiteError(f'invalid workspace "{spec}": name=WS is required')
    sources = [k for k in _WS_SOURCES if k in fields]
    if len(sources) > 1:
        raise TektiteError(
            f'invalid workspace "{spec}": one source per workspace, found {", ".join(sources)}'
        )
    binding: JSON = {"name": name}
    if "subPath" in fields:
        binding["subPath"] = fields["subPath"]
    source = sources[0] if sources else "emptyDir"
    if items and source not in ("config", "secret"):
        raise TektiteError(f'invalid workspace "{spec}": item applies to config= and secret=')
    if (fallback or "cachePolicy" in fields) and source != "cache":
        raise TektiteError(f'invalid workspace "{spec}": fallbackKey and cachePolicy apply to cache=')
    if source == "claimName":
        binding["persistentVolumeClaim"] = {"claimName": fields["claimName"]}
    elif source == "config":
        binding["configMap"] = {"name": fields["config"], **({"items": items} if items else {})}
    elif source == "secret":
        binding["secret"] = {"secretName": fields["secret"], **({"items": items} if items else {})}
    elif source == "volumeClaimTemplateFile":
        binding["volumeClaimTemplate"] = read_yaml_mapping(fields[source], "volume claim template")
    elif source == "csiFile":
        binding["csi"] = read_yaml_mapping(fields[source], "CSI")
    elif source == "cache":
        attrs = {"key": fields["cache"]}
        if fallback:
            attrs["fallbackKeys"] = ",".join(fallback)
        if "cachePolicy" in fields:
            attrs["policy"] = fields["cachePolicy"]
        from tektite.core.cachebinding import DRIVER

        binding["csi"] = {"driver": DRIVER, "volumeAttributes": attrs}
    else:
        medium = fields.get("emptyDir", "").strip().strip('"')
        binding["emptyDir"] = {"medium": medium} if medium else {}
    return binding


def settle_heap() -> None:
    """For commands that keep running (an engine, the Chains watcher, the server): what is loaded
    by now lives as long as the process, so take it out of the cyclic garbage collector's scans.
    Full collections then walk only what the runs create: with the Chains watcher signing 2,000
    runs beside an engine loop, the loop's longest stall went from 60-80 ms to ~15 ms."""
    gc.freeze()
