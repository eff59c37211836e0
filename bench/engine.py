"""Engine overhead, measured against the bare cost of starting a process, in one run.

    .venv/bin/python bench/engine.py [--rounds 20] [--modes process,sandbox] [--json]

For each isolation mode (``process``: plain subprocesses; ``sandbox``: bubblewrap):

* ``spawn_ms``: bare spawn floor - start ``true`` and wait for it, the same way the mode does
  (``bwrap`` with tektite's sandbox arguments for ``sandbox``; ``subprocess.Popen`` and a wake-up
  on the process's pidfd in the event loop, as the executor spawns), no tektite code involved;
* ``spawn_asyncio_ms``: the same through ``asyncio.create_subprocess_exec`` with Python's default
  child watcher (its transport and protocol, and on 3.11 a thread per process, cost more; the
  executor stopped using them) - information;
* ``taskrun_1step_ms``: a TaskRun with one step running ``true``, from ``store.create`` to its
  final status written, through the real engine, store (SQLite) and executor;
* ``step_overhead_ms``: ``taskrun_1step_ms - spawn_ms`` - what tektite adds around one step;
  ``step_overhead_ratio`` is that divided by ``spawn_ms`` (target <= 2);
* ``seq10_ms``: a PipelineRun of 10 tasks in a chain (``runAfter``), one ``true`` step each;
  ``seq10_engine_ms`` is ``seq10_ms - 10 * spawn_ms`` - engine time (target <= 60 ms in process
  mode); ``seq10_ratio`` is ``seq10_ms / (10 * spawn_ms)``;
* ``fan100_ms``: a PipelineRun of 100 tasks: one root, 98 in parallel after it, one sink after
  all of them; ``fan100_engine_ms`` is ``fan100_ms - 100 * spawn_ms`` (no parallelism credit);
  ``fan100_ratio`` is ``fan100_ms / (100 * spawn_ms)``.

Figures are medians over ``--rounds`` repetitions (at least 20 for the 1-step TaskRun and the floors;
the floor and the TaskRun are sampled in turn - a spawn, a TaskRun - so their ratio compares them
under the same conditions of the machine; the pipelines use fewer rounds). ``--json``
prints one object ``{"<mode>": {<key>: value, ...}, "host": {...}}`` with the keys above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tektite.cli.common import settle_heap
from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.core.conditions import succeeded
from tektite.executor import sandbox_available, select_executor

JSON = dict[str, Any]


ENV = {"PATH": "/usr/bin:/bin"}


async def _spawn_asyncio(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, env=ENV)
    await proc.wait()


async def _spawn_pidfd(argv: list[str]) -> None:
    """What the executor does, in the standard library alone: Popen, then the loop wakes on the
    process's pidfd and reaps it."""
    loop = asyncio.get_running_loop()
    proc = subprocess.Popen(argv, env=ENV)
    pidfd = os.pidfd_open(proc.pid)
    exited = loop.create_future()
    loop.add_reader(pidfd, exited.set_result, None)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    proc.wait()


def floor_argv(mode: str) -> list[str]:
    if mode == "sandbox":
        from tektite.executor.sandbox import host_root_args

        return [
            "bwrap",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
            "--new-session",
            *host_root_args(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--",
            "true",
        ]
    return ["true"]


async def _timed(action: Any) -> float:
    start = time.perf_counter()
    await action()
    return (time.perf_counter() - start) * 1000


def taskrun_1step() -> JSON:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"generateName": "bench-"},
        "spec": {"taskSpec": {"steps": [{"name": "s", "image": "bash", "command": ["true"]}]}},
    }


def _task(name: str, after: list[str]) -> JSON:
    t: JSON = {"name": name, "taskSpec": {"steps": [{"name": "s", "image": "bash", "command": ["true"]}]}}
    if after:
        t["runAfter"] = after
    return t


def pipeline(tasks: list[JSON]) -> JSON:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": "bench-"},
        "spec": {"pipelineSpec": {"tasks": tasks}},
    }


def seq10() -> JSON:
    return pipeline([_task(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(10)])


def fan100() -> JSON:
    mids = [f"m{i}" for i in range(98)]
    return pipeline([_task("root", []), *(_task(m, ["root"]) for m in mids), _task("sink", mids)])


async def one_run(engine: Engine, cluster: Cluster, make: Any) -> float:
    """Milliseconds from store.create to the run's final status written."""
    obj = make()
    start = time.perf_counter()
    created = cluster.store.create(obj)
    final = await engine.wait(created["kind"], created["metadata"]["name"])
    took = (time.perf_counter() - start) * 1000
    if not succeeded(final):
        raise SystemExit(f"bench run failed: {final.get('status', {}).get('conditions')}")
    return took


async def timed_runs(engine: Engine, cluster: Cluster, make: Any, rounds: int) -> float:
    await one_run(engine, cluster, make)  # the first run warms caches
    return statistics.median([await one_run(engine, cluster, make) for _ in range(rounds)])


async def one_step_against_floor(
    engine: Engine, cluster: Cluster, mode: str, rounds: int
) -> tuple[float, float]:
    """Medians of the spawn floor and a 1-step TaskRun, sampled in turn (one of each per round),
    so that the ratio compares them under the same conditions of the machine."""
    argv = floor_argv(mode)
    for _ in range(3):
        await _spawn_pidfd(argv)
    await one_run(engine, cluster, taskrun_1step)  # warms the engine's caches
    floors, runs = [], []
    for _ in range(rounds):
        floors.append(await _timed(lambda: _spawn_pidfd(argv)))
        runs.append(await one_run(engine, cluster, taskrun_1step))
    return statistics.median(floors), statistics.median(runs)


async def asyncio_floor(mode: str, rounds: int) -> float:
    """The same spawn through asyncio (measured on its own: on Python 3.11 its child watcher starts
    a thread per process, which would disturb the samples around it)."""
    argv = floor_argv(mode)
    for _ in range(3):
        await _spawn_asyncio(argv)
    return statistics.median([await _timed(lambda: _spawn_asyncio(argv)) for _ in range(rounds)])


async def measure(mode: str, rounds: int) -> JSON:
    # a home on the disk the user works on (not a tmpfs); TEKTITE_BENCH_DIR chooses another place
    base = Path(os.environ.get("TEKTITE_BENCH_DIR") or Path.cwd() / ".bench-homes")
    base.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="tektite-bench-", dir=base))
    try:
        cluster = Cluster(home)
        engine = Engine(cluster, select_executor(mode)[0])
        await engine.start()
        settle_heap()  # as `tektite run`, `start` and `serve` do once the engine is set up
        try:
            floor, one = await one_step_against_floor(engine, cluster, mode, max(rounds, 20))
            floor_asyncio = await asyncio_floor(mode, max(rounds, 20))
            seq = await timed_runs(engine, cluster, seq10, max(3, rounds // 4))
            fan = await timed_runs(engine, cluster, fan100, max(2, rounds // 10))
        finally:
            await engine.stop()
            cluster.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "spawn_ms": round(floor, 3),
        "spawn_asyncio_ms": round(floor_asyncio, 3),
        "taskrun_1step_ms": round(one, 3),
        "step_overhead_ms": round(one - floor, 3),
        "step_overhead_ratio": round((one - floor) / floor, 2),
        "seq10_ms": round(seq, 2),
        "seq10_engine_ms": round(seq - 10 * floor, 2),
        "seq10_ratio": round(seq / (10 * floor), 2),
        "fan100_ms": round(fan, 1),
        "fan100_engine_ms": round(fan - 100 * floor, 1),
        "fan100_ratio": round(fan / (100 * floor), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--modes", default="process,sandbox")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: JSON = {
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    }
    for mode in args.modes.split(","):
        if mode == "sandbox" and not sandbox_available()[0]:
            results[mode] = {"skipped": sandbox_available()[1]}
            continue
        results[mode] = asyncio.run(measure(mode, args.rounds))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for mode, figures in results.items():
        if mode == "host":
            continue
        print(f"== {mode}")
        for key, value in figures.items():
            print(f"  {key:<22} {value}")


if __name__ == "__main__":
    main()
