"""Fixtures: headless Chromium (Debian ``chromium`` driven by Playwright) and a dashboard server.

Chromium is the system one (``/usr/bin/chromium``, or ``$TEKTITE_CHROMIUM``); Playwright's own
browser download is never used. Each test gets a fresh user-data-dir. The dashboard is the one
``tektite serve`` mounts at ``/ui`` (uvicorn + engine, ``process`` executor) on 127.0.0.1, started
as a child process and stopped by PID. Screenshots go to ``tests/artifacts/screenshots/``
(gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = [
    "DashboardServer",
    "browser_context",
    "chromium_path",
    "screenshot",
    "start_dashboard",
    "stop_process",
]

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT / "tests" / "artifacts" / "screenshots"
_AMBIENT = ("TEKTITE_SERVER", "TEKTITE_TOKEN", "TEKTITE_DATABASE_URL", "TEKTITE_HOME", "TEKTITE_CHAINS")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The system Chromium, or skip saying how to get it."""
    wanted = os.environ.get("TEKTITE_CHROMIUM", "/usr/bin/chromium")
    found = wanted if os.access(wanted, os.X_OK) else shutil.which("chromium")
    if not found:
        pytest.skip(f"chromium not found at {wanted} or on PATH (Debian: apt-get install chromium)")
    return found


@pytest.fixture()
def browser_context(tmp_path: Path) -> Iterator[Any]:
    """A Playwright BrowserContext of a fresh headless Chromium profile; the test fails if a page
    throws or logs an error (other than an HTTP error status, which tests provoke on purpose)."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "playwright (Python) is not installed: pip install playwright (no browser download needed)"
        )
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
        )
        context.set_default_timeout(20_000)
        problems: list[str] = []  # uncaught exceptions and console errors (CSP violations among them)
        context.on("weberror", lambda e: problems.append(f"uncaught: {e.error}"))
        context.on(
            "console",
            lambda m: (
                problems.append(f"console: {m.text}")
                if m.type == "error"
                and not m.text.startswith("Failed to load resource")  # a 401/403/404 answer
                else None
            ),
        )
        try:
            yield context
        finally:
            context.close()
        assert not problems, "the page reported errors:\n" + "\n".join(problems)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class DashboardServer:
    home: Path
    url: str  # ends with /ui/
    proc: subprocess.Popen[bytes]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_dashboard(home: Path, *, executor: str = "process") -> DashboardServer:
    """Start ``tektite serve`` on a free port; wait until the dashboard answers."""
    port = _free_port()
    log = home.parent / f"serve-{port}.log"
    argv = [sys.executable, "-m", "tektite.cli.main", "--home", str(home), "serve"]
    argv += ["--listen", f"127.0.0.1:{port}", "--executor", executor]
    # this home's SQLite store and nothing else: no server or database named by the environment
    env = {k: v for k, v in os.environ.items() if k not in _AMBIENT}
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=home.parent, env=env)
    server = DashboardServer(home, f"http://127.0.0.1:{port}/ui/", proc, log)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"tektite serve exited with {proc.returncode}:\n{server.output()}")
        try:
            httpx.get(server.url + "api/whoami", timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"tektite serve did not answer within 30s:\n{server.output()}") from None
            time.sleep(0.1)
