"""``tektite serve`` and ``tektite token create|list|delete`` (the implementation is ``tektite.server``)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from tektite.cli.common import STATE, err, out, settle_heap, table
from tektite.server.tokens import ADMIN_TOKEN_FILE, Role, TokenStore

token_app = typer.Typer(help="Bearer tokens for `tektite serve`: create, list, delete.", no_args_is_help=True)


def serve_command(
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to listen on (0.0.0.0:PORT exposes the server)")
    ] = "127.0.0.1:8080",
    executor: Annotated[str | None, typer.Option("--executor", help="sandbox or process")] = None,
    anonymous_role: Annotated[
        str | None,
        typer.Option("--anonymous-role", help="role for requests without a token (default: refused, 401)"),
    ] = None,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="do not serve the web UI")] = False,
    metrics_public: Annotated[
        bool, typer.Option("--metrics-public", help="serve /metrics without a token")
    ] = False,
    prune_interval: Annotated[
        float, typer.Option("--prune-interval", help="seconds between retention sweeps")
    ] = 60.0,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls", help="HTTPS with a certificate made for this home (<home>/tls/ca.crt to trust)"
        ),
    ] = False,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="PEM certificate (chain) file")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="PEM private key file")] = None,
) -> None:
    """Run the API (kubectl works against it), the engine, Chains, Triggers, dashboard and /metrics."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f'expected HOST:PORT, found "{listen}"', param_hint="--listen")
    from tektite.server.serve import ServeOptions, serve  # the web stack: only this command

    cluster = STATE.cluster()
    tokens = TokenStore(cluster.home)
    bootstrap = tokens.bootstrap()
    if bootstrap is not None:
        err(f"Created the first admin token (also in {cluster.home / ADMIN_TOKEN_FILE}, mode 0600):")
        err(f"  {bootstrap}")
        err("It is shown once; make more with `tektite token create --role admin|edit|view`.")
    options = ServeOptions(
        host=host.strip("[]"),
        port=int(port),
        executor=executor,
        anonymous_role=Role.parse(anonymous_role) if anonymous_role else None,
        dashboard=not no_dashboard,
        metrics_public=metrics_public,
        prune_interval=prune_interval,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    if bool(tls_cert) != bool(tls_key):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    if options.scheme == "http" and options.host not in ("127.0.0.1", "localhost", "::1"):
        err(f"warning: serving plain HTTP on {options.host}: tokens cross the network unencrypted; use --tls")
    if tls:
        err(f"TLS: clients trust {cluster.home / 'tls' / 'ca.crt'} (kubectl --certificate-authority)")
    settle_heap()
    try:
        asyncio.run(serve(cluster, options, on_ready=lambda url: err(f"tektite serving on {url}")))
    except KeyboardInterrupt:
        pass


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="admin, edit or view")],
    name: Annotated[str | None, typer.Option("--name", help="a name to list and delete it by")] = None,
) -> None:
    """Create a token and print it (the only time it is shown; only its sha256 is kept)."""
    record, token = TokenStore(STATE.cluster().home).create(Role.parse(role), name)
    err(f'token "{record.name}" created with role {record.role}')
    out(token)


@token_app.command("list")
def token_list(output: Annotated[str | None, typer.Option("--output", "-o", help="json")] = None) -> None:
    """List token names and roles (never the tokens)."""
    records = TokenStore(STATE.cluster().home).list()
    if output == "json":
        out(json.dumps([r.public() for r in records], indent=2))
        return
    if not records:
        err("No tokens found")
        return
    out(table([[r.name, str(r.role), r.created] for r in records], ["NAME", "ROLE", "CREATED"]))


@token_app.command("delete")
def token_delete(names: list[str]) -> None:
    """Delete tokens by name; a running server refuses them at once."""
    tokens = TokenStore(STATE.cluster().home)
    for n in names:
        tokens.delete(n)
        out(f'token "{n}" deleted')


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.add_typer(token_app, name="token")
