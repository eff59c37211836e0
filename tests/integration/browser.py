"""Fixtures: headless Chromium (Debian ``chromium`` driven by Playwright), a dashboard server, and
``dashboard_env``: that server on a home with Tasks, Pipelines, finished runs of every outcome and
tokens of each role.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tektite.api.loader import load_text
from tektite.controller.cluster import Cluster
from tektite.server.tokens import TokenStore
from tektite.store.sql import SQLStore

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


# -- the dashboard's world: Tasks, Pipelines, runs of every outcome, tokens of every role ---------
DEFINITIONS = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: echo}
spec:
  params: [{name: msg, default: hi}]
  results: [{name: out}]
  steps:
    - name: say
      image: busybox
      script: |
        echo "$(params.msg)"
        printf done > $(results.out.path)
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: fail}
spec:
  steps:
    - name: boom
      image: busybox
      script: |
        echo "about to fail"
        exit 3
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: gated}
spec:
  params: [{name: gate}]
  steps:
    - name: wait
      image: busybox
      script: |
        echo "first line"
        i=0
        while [ ! -e "$(params.gate)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
        for n in 1 2 3; do echo "tick $n"; sleep 0.3; done
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: sleeper}
spec:
  steps:
    - name: nap
      image: busybox
      script: |
        echo "napping"
        sleep 120
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: demo}
spec:
  params: [{name: who, default: world}]
  workspaces: [{name: src}]
  tasks:
    - name: a
      taskRef: {name: echo}
      params: [{name: msg, value: "a $(params.who)"}]
    - name: b
      runAfter: [a]
      taskRef: {name: echo}
    - name: c
      taskRef: {name: echo}
      params: [{name: msg, value: "$(tasks.a.results.out)"}]
  finally:
    - name: f
      taskRef: {name: echo}
  results:
    - name: final
      value: $(tasks.c.results.out)
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: breaks}
spec:
  tasks:
    - name: ok
      taskRef: {name: echo}
    - name: bad
      runAfter: [ok]
      taskRef: {name: fail}
    - name: after-bad
      runAfter: [bad]
      taskRef: {name: echo}
"""


def pipelinerun(
    pipeline: str, *, params: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"pipelineRef": {"name": pipeline}}
    if pipeline == "demo":
        spec["workspaces"] = [{"name": "src", "emptyDir": {}}]
    if params:
        spec["params"] = [{"name": k, "value": v} for k, v in params.items()]
    meta: dict[str, Any] = {"generateName": f"{pipeline}-run-", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": meta, "spec": spec}


def taskrun(
    task: str, *, params: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"generateName": f"{task}-run-", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    spec: dict[str, Any] = {"taskRef": {"name": task}}
    if params:
        spec["params"] = [{"name": k, "value": v} for k, v in params.items()]
    return {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": meta, "spec": spec}


def condition(obj: dict[str, Any]) -> dict[str, Any]:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Succeeded"), {}
    )


def finished(obj: dict[str, Any]) -> bool:
    return condition(obj).get("status") in ("True", "False")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Env:
    """The running dashboard plus a Cluster on the same home (another process, the same store)."""

    def __init__(self, server: DashboardServer, cluster: Cluster) -> None:
        self.server = server
        self.cluster = cluster
        self.store = cluster.store

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.cluster.create(obj)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.store.get(kind, name, "default")

    def wait_done(self, kind: str, name: str, timeout: float = 90) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            return obj if finished(obj) else None

        return wait_for(f"{kind} {name} to finish", check, timeout)

    def all_runs(self, kind: str) -> list[dict[str, Any]]:
        return self.store.list(kind, "default").items


@pytest.fixture(scope="module")
def dashboard_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("dashboard") / "home"
    home.mkdir()
    tokens = TokenStore(home)
    roles = {role: tokens.create(role, f"{role}-user")[1] for role in ("admin", "edit", "view")}
    cluster = Cluster(
        home, SQLStore(f"sqlite:///{home / 'tektite.db'}")
    )  # the server's store, whatever the env
    cluster.apply(load_text(DEFINITIONS, "definitions.yaml"))
    server = start_dashboard(home)
    server.tokens = roles
    e = Env(server, cluster)
    try:
        created = [
            e.create(pipelinerun("demo")),
            e.create(pipelinerun("demo", params={"who": "moon"}, labels={"team": "red"})),
            e.create(pipelinerun("demo")),
            e.create(pipelinerun("breaks")),
            *(
                e.create(
                    taskrun("echo", params={"msg": f"run {i}"}, labels={"team": "red" if i < 2 else "blue"})
                )
                for i in range(6)
            ),
            *(e.create(taskrun("fail")) for _ in range(2)),
        ]
        for obj in created:
            e.wait_done(obj["kind"], obj["metadata"]["name"])

        # runs are indexed by status as they are written (the store derives tektite.dev/status)
        yield e
    finally:
        stop_process(server.proc)
        cluster.close()
