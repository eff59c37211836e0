"""Dashboard runs list with 10,000 runs: time to list page 1 and page 50, per filter.

    .venv/bin/python bench/dashboard.py [--runs 10000] [--limit 50] [--repeat 5] [--db URL]

Fills a fresh SQLite store (or ``--db``) with PipelineRuns and TaskRuns shaped like real ones
(PipelineRuns carry their resolved pipelineSpec and childReferences, TaskRuns their steps and
taskSpec), labelled as the dashboard's labeler leaves them. Then asks the dashboard's HTTP API
for page 1 and page 50 (following continue tokens; only the last request is timed; a filter
with fewer pages reports its last page) and prints
the median and worst of ``--repeat`` runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tektite.controller.cluster import Cluster
from tektite.server.dashboard import make_app
from tektite.store.sql import SQLStore

JSON = dict[str, Any]
STATUSES = (
    [("Succeeded", "True", "Succeeded")] * 7
    + [("Failed", "False", "Failed")] * 2
    + [("Cancelled", "False", "Cancelled")]
)
PIPELINES = ["build", "release", "nightly", "docs"]


def pipelinerun(i: int) -> JSON:
    word, status, reason = random.choice(STATUSES)
    pipeline = PIPELINES[i % len(PIPELINES)]
    tasks = [
        {"name": f"t{j}", "taskRef": {"name": "task"}, "runAfter": [f"t{j - 1}"] if j else []}
        for j in range(6)
    ]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": f"{pipeline}-{i:05d}",
            "namespace": "default",
            "labels": {
                "tekton.dev/pipeline": pipeline,
                "tektite.dev/status": word,
                "team": random.choice("ab"),
            },
        },
        "spec": {"pipelineRef": {"name": pipeline}, "params": [{"name": "rev", "value": "0" * 40}]},
        "status": {
            "startTime": "2025-01-01T00:00:00Z",
            "completionTime": "2025-01-01T00:05:00Z",
            "conditions": [{"type": "Succeeded", "status": status, "reason": reason, "message": "x" * 80}],
            "pipelineSpec": {"tasks": tasks},
            "childReferences": [
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "name": f"{pipeline}-{i:05d}-t{j}",
                    "pipelineTaskName": f"t{j}",
                }
                for j in range(6)
            ],
        },
    }


def taskrun(i: int) -> JSON:
    word, status, reason = random.choice(STATUSES)
    steps = [{"name": f"s{j}", "image": "busybox", "script": "echo hello\n" * 10} for j in range(4)]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": f"tr-{i:05d}",
            "namespace": "default",
            "labels": {"tekton.dev/task": "task", "tektite.dev/status": word, "team": random.choice("ab")},
        },
        "spec": {"taskRef": {"name": "task"}},
        "status": {
            "startTime": "2025-01-01T00:00:00Z",
            "completionTime": "2025-01-01T00:01:00Z",
            "conditions": [{"type": "Succeeded", "status": status, "reason": reason}],
            "taskSpec": {"steps": steps},
            "steps": [
                {
                    "name": f"s{j}",
                    "container": f"step-s{j}",
                    "terminated": {"exitCode": 0, "reason": "Completed"},
                }
                for j in range(4)
            ],
        },
    }


def fill(store: SQLStore, n: int) -> None:
    start = time.perf_counter()
    for i in range(n):
        obj = pipelinerun(i) if i % 3 == 0 else taskrun(i)
        status = obj.pop("status")
        created = store.create(obj)
        created["status"] = status
        store.update(created, status_only=True)
    print(f"stored {n} runs in {time.perf_counter() - start:.1f}s")


def page_time(client: httpx.Client, params: dict[str, str], page: int) -> tuple[float, int]:
    """Milliseconds to get page ``page`` (or the last page, if there are fewer), and its number."""
    token = None
    number, took = 0, 0.0
    while number < page:
        number += 1
        start = time.perf_counter()
        resp = client.get("api/runs", params={**params, **({"continue": token} if token else {})})
        took = (time.perf_counter() - start) * 1000
        resp.raise_for_status()
        token = resp.json()["continue"]
        if token is None:
            break
    return took, number


def serve(app: object) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default=None, help="a store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = SQLStore(args.db or f"sqlite:///{home / 'tektite.db'}")
        fill(store, args.runs)
        server, url = serve(make_app(Cluster(home, store), label_runs=False))
        client = httpx.Client(base_url=url, timeout=60)
        queries = {
            "all kinds": {},
            "kind=PipelineRun": {"kind": "PipelineRun"},
            "kind=TaskRun,status=Failed": {"kind": "TaskRun", "status": "Failed"},
            "status=Succeeded": {"status": "Succeeded"},
            "pipeline=release": {"pipeline": "release"},
            "label team=a": {"label": "team=a"},
        }
        print(f"{'query (limit ' + str(args.limit) + ')':32} {'page':>10} {'median ms':>10} {'max ms':>8}")
        for label, params in queries.items():
            params = {**params, "limit": str(args.limit)}
            for page in (1, 50):
                samples = [page_time(client, params, page) for _ in range(args.repeat)]
                times = [t for t, _ in samples]
                shown = f"{samples[0][1]}" + ("" if samples[0][1] == page else " (last)")
                print(f"{label:32} {shown:>10} {statistics.median(times):>10.1f} {max(times):>8.1f}")
        start = time.perf_counter()
        failed = [
            o
            for kind in ("PipelineRun", "TaskRun")
            for o in store.list(kind, order="-created").items
            if any(c.get("status") == "False" for c in (o.get("status") or {}).get("conditions") or [])
        ]
        took = (time.perf_counter() - start) * 1000
        print(
            f"for comparison, status=Failed by reading every run's JSON: {took:.0f} ms ({len(failed)} runs)"
        )
        client.close()
        server.should_exit = True
        store.close()


if __name__ == "__main__":
    main()
