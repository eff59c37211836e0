from __future__ import annotations

import asyncio
import signal
import uuid

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
        while len(processes_matching(f"sleep {marker}")) < 3:
            await asyncio.sleep(0.01)
        members = process_tree(proc.pid)
        await kill_tree(proc.pid, grace=0.2)
        await proc.wait()
        return len(members), processes_matching(f"sleep {marker}")

    members, left = asyncio.run(scenario())
    assert members >= 4  # sh and three sleeps
    assert left == []
