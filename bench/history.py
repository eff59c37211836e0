"""What a home's history costs: the same measurements on an empty home and on one that keeps
``--runs`` finished, signed runs (pruning is off by default, so homes grow), in one run.

    .venv/bin/python bench/history.py [--runs 20000] [--rounds 5] [--json]

* ``tektite_run_s``: ``tektite run -f hello.yaml --executor process`` (a TaskRun of one
  ``echo`` step) as a user types it, wall time: Python's start, the engine's start, the run, its
  signing, the exit;
* ``engine_start_ms``: ``Engine.start()`` (it recovers the runs a dead engine left unfinished);
* ``chains_start_ms``: a Chains watcher's start with nothing to sign (``sync`` of one process:
  it looks for the runs that wait for it);
* ``status_write_us``: one status write of a run in progress (its status label changes, as on
  most of a run's writes).

Each figure is the median of ``--rounds``; ``ratio`` is history / empty (1.0: the history costs
nothing). The homes live in ``$TMPDIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tektite.chains.watcher import ChainsWatcher
from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.executor import select_executor

JSON = dict[str, Any]
HELLO = """apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {generateName: hello-}
spec:
  taskSpec:
    steps:
    - {name: hello, image: busybox, script: echo hello}
"""
SUCCEEDED = {"type": "Succeeded", "status": "True", "reason": "Succeeded"}


def fill(cluster: Cluster, runs: int) -> None:
    """``runs`` finished TaskRuns, signed by Chains (as a watcher leaves them)."""
    for i in range(runs):
        cluster.store.create(
            {
                "apiVersion": "tekton.dev/v1",
                "kind": "TaskRun",
                "metadata": {
                    "name": f"old-{i:06d}",
                    "annotations": {"chains.tekton.dev/signed": "true"},
                    "labels": {"app.kubernetes.io/part-of": "bench"},
                },
                "spec": {"taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "make"}]}},
                "status": {"conditions": [SUCCEEDED], "podName": f"old-{i:06d}-pod"},
            }
        )


def tektite_run(home: Path, yaml_file: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).with_name("tektite")),  # the script pip installs beside python
            "--home",
            str(home),
            "run",
            "-f",
            str(yaml_file),
            "--executor",
            "process",
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def engine_start(cluster: Cluster) -> float:
    async def once() -> float:
        engine = Engine(cluster, select_executor("process")[0])
        started = time.perf_counter()
        await engine.start()
        took = time.perf_counter() - started
        await engine.stop()
        return took

    return asyncio.run(once())


def chains_start(cluster: Cluster) -> float:
    watcher = ChainsWatcher(cluster, notify=lambda _: None)
    started = time.perf_counter()
    watcher.sync(workers=1)
    return time.perf_counter() - started


def status_writes(cluster: Cluster, n: int = 200) -> float:
    run = cluster.store.create(
        {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"generateName": "live-"}, "spec": {}}
    )
    reasons = ("Running", "TaskRunPending")  # two status words: each write changes the label
    started = time.perf_counter()
    for i in range(n):
        run["status"] = {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": reasons[i % 2]}]}
        run = cluster.store.update(run, status_only=True)
    took = (time.perf_counter() - started) / n
    cluster.store.delete("TaskRun", run["metadata"]["name"])
    return took


def measure(home: Path, yaml_file: Path, rounds: int) -> JSON:
    cluster = Cluster(home)
    figures: dict[str, list[float]] = {
        k: [] for k in ("tektite_run_s", "engine_start_ms", "chains_start_ms", "status_write_us")
    }
    for _ in range(rounds):
        figures["engine_start_ms"].append(engine_start(cluster) * 1e3)
        figures["chains_start_ms"].append(chains_start(cluster) * 1e3)
        figures["status_write_us"].append(status_writes(cluster) * 1e6)
        figures["tektite_run_s"].append(tektite_run(home, yaml_file))
    cluster.close()
    return {k: statistics.median(v) for k, v in figures.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20000, help="finished runs the second home keeps")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tektite-bench-history-"))
    try:
        yaml_file = scratch / "hello.yaml"
        yaml_file.write_text(HELLO)
        os.environ.setdefault("TEKTITE_CHAINS_WORKERS", "1")
        filled = Cluster(scratch / "history")
        started = time.perf_counter()
        fill(filled, args.runs)
        filled.close()
        fill_s = time.perf_counter() - started
        empty = measure(scratch / "empty", yaml_file, args.rounds)
        history = measure(scratch / "history", yaml_file, args.rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = {
        "runs": args.runs,
        "empty": empty,
        "history": history,
        "ratio": {k: history[k] / empty[k] for k in empty},
        "fill_s": fill_s,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"history: {args.runs} finished, signed runs (filled in {fill_s:.1f} s); medians of {args.rounds}")
    print(f"{'':18s} {'empty home':>12s} {'with history':>14s} {'ratio':>7s}")
    for key, unit in (
        ("tektite_run_s", "s"),
        ("engine_start_ms", "ms"),
        ("chains_start_ms", "ms"),
        ("status_write_us", "us"),
    ):
        print(
            f"{key:18s} {empty[key]:10.2f} {unit:2s} {history[key]:11.2f} {unit:2s} {out['ratio'][key]:6.2f}x"
        )


if __name__ == "__main__":
    main()
