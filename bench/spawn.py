"""Spawn overhead: `true` directly vs through bubblewrap, and the runner's cost per step.

    .venv/bin/python bench/spawn.py [--n 200] [--steps 50]

Prints one line per measurement (median and mean over the runs, milliseconds). The runner's
steps write straight to their log files, as in the engine; "output piped" is the path taken
when something reads the output on its way (secret masking, stdoutConfig, a live listener).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tektite.executor import sandbox_available
from tektite.executor.process import ProcessExecutor
from tektite.executor.sandbox import SandboxExecutor, host_root_args
from tektite.executor.testkit import RecordingObserver, pod, step


async def timed(n: int, action: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await action()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def spawn(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, env={"PATH": "/usr/bin:/bin"})
    await proc.wait()


def report(label: str, samples: list[float]) -> None:
    print(
        f"{label:<44} median {statistics.median(samples):7.2f} ms   mean {statistics.mean(samples):7.2f} ms"
    )


async def per_step(
    executor: ProcessExecutor | SandboxExecutor, steps: int, rounds: int, live_output: bool = False
) -> list[float]:
    """Milliseconds per step for a pod of `steps` steps running `true`. ``live_output=False``:
    as in the engine, output goes straight to the log files; True: through pipes and readers
    (what a live listener or secret masking needs)."""
    out = []
    for _ in range(rounds):
        run_dir = Path(tempfile.mkdtemp(prefix="tektite-bench-"))
        try:
            p = pod(run_dir, [step(f"s{i}", command=["true"]) for i in range(steps)])
            start = time.perf_counter()
            await executor.run(p, RecordingObserver(live_output=live_output), asyncio.Event())
            out.append((time.perf_counter() - start) * 1000 / steps)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    true = shutil.which("true") or "/usr/bin/true"
    report("spawn `true` directly", await timed(args.n, lambda: spawn([true])))
    works, why = sandbox_available()
    if works:
        bwrap = [
            shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--new-session", *host_root_args(),
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", true,
        ]  # fmt: skip
        report("spawn `true` via bwrap (sandbox namespaces)", await timed(args.n, lambda: spawn(bwrap)))
    else:
        print(f"bwrap: skipped ({why})")
    report(
        f"runner, process: per step ({args.steps} steps)",
        await per_step(ProcessExecutor(), args.steps, args.rounds),
    )
    report(
        "runner, process: per step, output piped",
        await per_step(ProcessExecutor(), args.steps, args.rounds, live_output=True),
    )
    if works:
        report(
            f"runner, sandbox: per step ({args.steps} steps)",
            await per_step(SandboxExecutor(), args.steps, args.rounds),
        )


if __name__ == "__main__":
    asyncio.run(main())
