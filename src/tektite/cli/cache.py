"""``tektite cache list`` / ``delete``: the keyed workspace caches of a home (controller/caches.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from tektite.cli.common import STATE, age, out, table
from tektite.errors import TektiteError

if TYPE_CHECKING:  # the controller is imported when a command runs, not at start-up
    from tektite.controller.caches import Caches

cache_app = typer.Typer(
    help="keyed workspace caches (a csi workspace with driver cache.tektite.dev)", no_args_is_help=True
)


def _caches() -> Caches:
    from tektite.controller.caches import Caches

    if STATE.server:
        raise TektiteError(
            "caches live beside the server's store: run `tektite cache` on the server's host (with its --home)"
        )
    return Caches(STATE.cluster().paths.caches_dir())


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@cache_app.command("list")
def list_caches(
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="every namespace")] = False,
) -> None:
    """The cache entries, newest saved first: key, size, when saved and last used, and by which run."""
    entries = _caches().list(None if all_namespaces else STATE.namespace)
    if not entries:
        out("No caches found" + ("" if all_namespaces else f" in namespace {STATE.namespace}"))
        return
    rows = [
        [
            e.key,
            _size(e.size),
            age(_stamp(e.saved)),
            age(_stamp(e.used)),
            e.run,
            *([e.namespace] if all_namespaces else []),
        ]
        for e in entries
    ]
    out(table(rows, ["KEY", "SIZE", "SAVED", "USED", "RUN", *(["NAMESPACE"] if all_namespaces else [])]))


@cache_app.command("delete")
def delete_caches(
    keys: Annotated[list[str] | None, typer.Argument(help="the keys to delete")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every entry of the namespace")] = False,
    unused_for: Annotated[
        str | None,
        typer.Option("--unused-for", help="entries not restored or saved for this long (7d, 12h, 30m)"),
    ] = None,
) -> None:
    """Delete cache entries by key, all of a namespace's, or those unused for a while."""
    caches = _caches()
    ns = STATE.namespace
    if not keys and not all_ and unused_for is None:
        raise TektiteError("name the keys to delete, or pass --all or --unused-for DURATION")
    if keys and (all_ or unused_for is not None):
        raise TektiteError("give keys, or --all / --unused-for, not both")
    targets = list(keys or [])
    if not targets:
        cutoff = time.time() - _duration(unused_for) if unused_for is not None else None
        targets = [e.key for e in caches.list(ns) if cutoff is None or e.used < cutoff]
    missing = [k for k in targets if not caches.delete(ns, k)]
    for k in targets:
        if k not in missing:
            out(f'cache "{k}" deleted')
    if missing:
        raise TektiteError(f"no cache with key {', '.join(repr(k) for k in missing)} in namespace {ns}")


def _duration(text: str) -> float:
    """A Go duration (12h, 90m, 1h30m), or days (7d)."""
    from tektite.core.durations import DurationError, parse_duration

    try:
        return float(text[:-1]) * 86400 if text.endswith("d") else parse_duration(text)
    except (ValueError, DurationError):
        raise TektiteError(
            f'--unused-for "{text}": expected days (7d) or a Go duration (12h, 1h30m)'
        ) from None


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
