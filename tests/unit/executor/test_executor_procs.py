from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from pathlib import Path

from tektite.executor.procs import Launch, exit_code, kill_tree, process_tree, spawn
from tektite.executor.testkit import processes_matching


def test_signal_deaths_report_128_plus_the_signal() -> None:
    assert exit_code(0) == 0
    assert exit_code(3) == 3
    assert exit_code(-signal.SIGKILL) == 137
    assert exit_code(-signal.SIGTERM) == 143


def test_kill_tree_reaches_grandchildren_and_escapees() -> None:
    marker = f"{uuid.uuid4().int % 10**6}.25"

    async def scenario() -> tuple[int, list[int]]:
        script = (
            f"sleep {marker} & "  # grandchild in the same group
            f"setsid sleep {marker} & "  # grandchild in its own session
            f"trap '' TERM; sleep {marker}"  # the main process ignores SIGTERM
        )
        launch = Launch(["sh", "-c", script], {"PATH": "/usr/bin:/bin"})
        proc = await spawn(launch, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        # sh's own command line names the marker too: wait for it and all three sleeps
        while len(processes_matching(f"sleep {marker}")) < 4:
            await asyncio.sleep(0.01)
        members = process_tree(proc.pid)
        await kill_tree(proc.pid, grace=0.2)
        await proc.wait()
        return len(members), processes_matching(f"sleep {marker}")

    members, left = asyncio.run(scenario())
    assert members >= 4  # sh and three sleeps
    assert left == []


def test_a_spawned_process_is_reaped_once_and_wait_can_be_cancelled() -> None:
    """Cancelling one wait (as a timeout does) neither loses the exit code for the next waiter
    nor leaves a zombie; the start time recorded for the sweep is not after the real one."""

    async def scenario() -> tuple[int, int, int, bool, int]:
        launch = Launch(["sleep", "30"], {"PATH": "/usr/bin:/bin"})
        proc = await spawn(launch, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        first = asyncio.ensure_future(proc.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first, timeout=0.05)  # cancels that wait; the process runs on
        stat = Path(f"/proc/{proc.pid}/stat").read_bytes()
        started = int(stat[stat.rfind(b")") + 2 :].split()[19])
        os.kill(proc.pid, signal.SIGKILL)
        codes = await asyncio.gather(proc.wait(), proc.wait())
        return codes[0], codes[1], started, Path(f"/proc/{proc.pid}").exists(), launch.since

    one, two, started, still_there, since = asyncio.run(scenario())
    assert one == two == -signal.SIGKILL
    assert not still_there  # reaped: no zombie
    assert since <= started
