"""What every ``tektite`` command imports before it does anything: the API models, not the store
(SQLAlchemy: the commands that open a home import it), the engine, the Chains signer, the web stack or the HTTP clients (each command that needs
them imports them itself). ~0.5 s of each command's start on a 2-core VM, measured with
``python -X importtime -c 'import tektite.cli.main'``; this test keeps them out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# each cost 20-150 ms at every start; the commands that use them import them
HEAVY = [
    "httpx",  # resolution, the registry client, triggers' interceptors, --server
    "uvicorn",  # tektite serve
    "starlette",
    "prometheus_client",  # Chains and Triggers metrics
    "cryptography",  # signing and verification
    "sqlalchemy",  # the store: opened by the commands that read or write a home (not version, bundle, keys)
    "tektite.controller.manager",  # the engine: run, start
    "tektite.chains.watcher",
    "tektite.verify",
]


def modules_after(module: str) -> list[str]:
    """Every module a fresh interpreter has loaded once it imported ``module``."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout))


@pytest.fixture(scope="module")
def imported() -> list[str]:
    return modules_after("tektite.cli.main")


@pytest.mark.parametrize("module", HEAVY)
def test_a_command_starts_without_importing(imported: list[str], module: str) -> None:
    assert not [m for m in imported if m == module or m.startswith(module + ".")]


def test_a_sqlite_store_opens_without_the_postgresql_dialect() -> None:
    """The commands that open a home import the store; its schema must not pull in SQLAlchemy's
    PostgreSQL dialect (and asyncpg) for a SQLite home (+35 ms when it did)."""
    assert not [
        m for m in modules_after("tektite.store.sql") if m.startswith("sqlalchemy.dialects.postgresql")
    ]


def test_an_engine_starts_without_the_http_client() -> None:
    """``tektite run`` starts an engine; only a remote resolution (git, http) needs httpx."""
    assert "httpx" not in modules_after("tektite.cli.session")


def test_the_commands_are_all_registered_still() -> None:
    import typer
    from typer.main import get_command

    from tektite.cli.main import app

    root = get_command(app)
    names = set(root.list_commands(typer.Context(root)))
    assert {
        "run",
        "serve",
        "chains",
        "keys",
        "verify",
        "verify-attestation",
        "eventlistener",
        "bundle",
        "cache",
    } <= names


def test_python_dash_m_tektite_is_the_command() -> None:
    from tektite import __version__

    done = subprocess.run([sys.executable, "-m", "tektite", "version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"tektite {__version__}"


def test_a_command_builds_only_itself() -> None:
    """Typer reads every command's signature to build it: the root builds the one invoked."""
    import typer
    from typer.main import get_command

    from tektite.cli.main import app

    root = get_command(app)
    assert dict(root.commands) == {}  # type: ignore[attr-defined]
    assert root.get_command(typer.Context(root), "taskrun") is not None  # type: ignore[attr-defined]
    assert set(root.commands) == {"taskrun"}  # type: ignore[attr-defined]
    assert root.get_command(typer.Context(root), "no-such-command") is None  # type: ignore[attr-defined]
