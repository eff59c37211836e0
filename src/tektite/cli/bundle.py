"""``tektite bundle push`` / ``list``: Tekton Bundles in an OCI registry (tkn's ``bundle`` verbs)."""

from __future__ import annotations

import calendar
import json
import time
from typing import Annotated

import typer

from tektite.cli.common import err, load_files, out, parse_kv
from tektite.errors import TektiteError

bundle_app = typer.Typer(
    help="Tekton Bundles: Tasks, Pipelines and StepActions in an OCI image", no_args_is_help=True
)

InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="plain http / no TLS verification for the registry")
]


def _ctime(value: str | None) -> float | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(value, fmt)))
        except ValueError:
            continue
    raise TektiteError(f'--ctime "{value}": expected an RFC 3339 UTC time (2006-01-02T15:04:05Z) or a date')


@bundle_app.command("push")
def push(
    reference: Annotated[str, typer.Argument(help="where to push: registry/repository[:tag]")],
    files: Annotated[list[str], typer.Option("-f", "--filenames", help="YAML/JSON files (or - for stdin)")],
    annotate: Annotated[
        list[str] | None, typer.Option("--annotate", help="KEY=VALUE annotation on the bundle's manifest")
    ] = None,
    ctime: Annotated[
        str | None,
        typer.Option("--ctime", help="creation time (RFC 3339): the same objects then give the same digest"),
    ] = None,
    insecure: InsecureOpt = False,
) -> None:
    """Push Tasks, Pipelines and StepActions as a Tekton Bundle (one layer each, at most 20)."""
    from tektite.resolution.bundles import push_bundle

    docs = load_files(files)
    for doc in docs:  # what the bundle contract allows, said with the file and line
        if str(doc.obj.get("kind", "")).lower() not in ("task", "pipeline", "stepaction"):
            raise TektiteError(
                f"{doc.source.file}:{doc.source.doc_line}: {doc.describe()}: a bundle holds Tasks, "
                "Pipelines and StepActions only"
            )
    objects = [doc.obj for doc in docs]
    pinned = push_bundle(
        reference,
        objects,
        created=_ctime(ctime),
        annotations=parse_kv(annotate, "annotation"),
        insecure=insecure,
    )
    err(f"*Pushed Tekton Bundle to {pinned}")
    out(str(pinned))


@bundle_app.command("list")
def list_(
    reference: Annotated[str, typer.Argument(help="the bundle: registry/repository[:tag|@digest]")],
    kind: Annotated[str | None, typer.Argument(help="task, pipeline or stepaction")] = None,
    name: Annotated[str | None, typer.Argument(help="the object's name")] = None,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="yaml or json: the objects themselves")
    ] = None,
    insecure: InsecureOpt = False,
) -> None:
    """List the objects of a Tekton Bundle (kind.apiVersion/name), or print them with -o."""
    import yaml

    from tektite.oci.auth import DockerConfig
    from tektite.resolution.bundles import fetch_bundle

    if output not in (None, "yaml", "json", "name"):
        raise TektiteError(f'-o "{output}": expected yaml, json or name')
    _, _, found = fetch_bundle(
        reference, kind=kind, name=name, auth=DockerConfig.default(), insecure=insecure
    )
    if kind is not None and not found:
        raise TektiteError(f"bundle {reference} has no {kind}" + (f" named {name!r}" if name else ""))
    for i, (obj, text) in enumerate(found):
        if output in (None, "name"):
            group = obj.api_version.split("/")[0]
            out(f"{obj.kind}.{group}/{obj.name}")
            continue
        doc = yaml.safe_load(text)
        if output == "json":
            out(json.dumps(doc, indent=2))
        else:
            out(("---\n" if i else "") + yaml.safe_dump(doc, sort_keys=False).rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(bundle_app, name="bundle")
