"""``tektite``: kubectl and tkn habits for Tekton runs on one machine.

Every error a user can cause is a :class:`TektiteError`; :func:`main` catches the family in one
place, prints its message and exits 1 (``--verbose`` adds the traceback).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_name
from typer.models import CommandInfo, TyperInfo

from tektite import __version__
from tektite.cli import objects, runs
from tektite.cli.common import STATE, err
from tektite.errors import TektiteError


class _LazyGroup(TyperGroup):
    """The root command. Its subcommands are registered on :data:`commands` and built into click
    commands only when used: building all ~90 of them (Typer reads every signature) took ~70 ms
    of every invocation, for the one that runs. ``--help`` builds them all, to list them."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(dict.fromkeys([*_entries(), *self.commands]))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            built = _build(cmd_name)
            if built is not None:
                self.commands[cmd_name] = built
        return self.commands.get(cmd_name)


commands = typer.Typer()
"""Where the command modules register (``register(commands)``); the root builds from it lazily."""


def _entries() -> dict[str, CommandInfo | TyperInfo]:
    out: dict[str, CommandInfo | TyperInfo] = {}
    for info in commands.registered_commands:
        name = info.name or get_command_name(getattr(info.callback, "__name__", ""))
        out.setdefault(name, info)
    for group in commands.registered_groups:
        if group.name:
            out.setdefault(group.name, group)
    return out


def _build(name: str) -> Any:  # a click command (Typer's own click, or click, by version)
    info = _entries().get(name)
    if info is None:
        return None
    one = typer.Typer()
    if isinstance(info, CommandInfo):
        one.registered_commands.append(info)
        return typer.main.get_command(one)  # one command and no callback: the command itself
    one.registered_groups.append(info)
    one.callback()(lambda: None)
    group = typer.main.get_command(one)
    return group.commands.get(name) if isinstance(group, TyperGroup) else None


app = typer.Typer(
    cls=_LazyGroup,
    name="tektite",
    help="Run Tekton Tasks and Pipelines on this machine: same YAML, same variables, signed provenance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    home: Annotated[
        Path | None, typer.Option("--home", envvar="TEKTITE_HOME", help="tektite home (store, runs, keys)")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="namespace")] = "default",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show tracebacks and engine logs")] = False,
    server: Annotated[
        str | None,
        typer.Option("--server", envvar="TEKTITE_SERVER", help="URL of a `tektite serve` to talk to"),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="TEKTITE_TOKEN", help="bearer token for --server")
    ] = None,
) -> None:
    STATE.home = home
    STATE.server = server
    STATE.token = token
    STATE.namespace = namespace
    STATE.verbose = verbose
    if home is not None:
        os.environ["TEKTITE_HOME"] = str(home)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(message)s", stream=sys.stderr
    )


@commands.command()
def version() -> None:
    """Print the tektite version."""
    typer.echo(f"tektite {__version__}")


objects.register(commands)
runs.register(commands)


def _register_optional() -> None:
    """Command groups that live in higher layers register themselves if present."""
    import importlib

    for module in (
        "tektite.cli.chains",
        "tektite.cli.serve",
        "tektite.cli.triggers",
        "tektite.cli.bundle",
        "tektite.cli.cache",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(commands)


_register_optional()


def main(argv: list[str] | None = None) -> int:
    STATE.forget_cluster()
    try:
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except TektiteError as exc:
        if STATE.verbose:
            traceback.print_exc()
        err(f"Error: {exc.diagnostics()}")
        return 1
    except (typer.Abort, KeyboardInterrupt):
        err("Aborted.")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except Exception as exc:  # usage errors (typer's click) and the like
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            return int(exc.exit_code)  # type: ignore[attr-defined]
        if STATE.verbose:
            traceback.print_exc()
        err(f"Error: internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return 2
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
