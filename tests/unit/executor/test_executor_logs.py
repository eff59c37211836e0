from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tektite.errors import NotFound
from tektite.executor.logs import LogStore, containers_with_logs, follow, read


def test_written_output_is_persisted_and_readable(tmp_path: Path) -> None:
    with LogStore(tmp_path) as store:
        store.write("step-a", b"one\n")
        store.write("step-a", b"two\n")
        store.write("step-b", b"other\n")
    assert read(tmp_path, "step-a") == b"one\ntwo\n"
    assert LogStore.read(tmp_path, "step-b") == b"other\n"
    # a second store (a restarted tektite) appends rather than truncates
    with LogStore(tmp_path) as store:
        store.write("step-a", b"three\n")
    assert read(tmp_path, "step-a") == b"one\ntwo\nthree\n"


def test_reading_a_container_that_never_ran_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="step-x"):
        read(tmp_path, "step-x")


def test_container_names_cannot_escape_the_log_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read(tmp_path, "../../etc/passwd")


def test_deleting_the_run_directory_deletes_the_logs(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with LogStore(run_dir) as store:
        store.write("step-a", b"x")
    shutil.rmtree(run_dir)
    with pytest.raises(NotFound):
        read(run_dir, "step-a")


def test_containers_are_listed_in_the_order_they_started(tmp_path: Path) -> None:
    with LogStore(tmp_path) as store:
        for name in ("step-z", "step-a", "step-m"):
            store.open(name)
    assert containers_with_logs(tmp_path) == ["step-z", "step-a", "step-m"]


def test_follow_yields_output_while_it_is_written(tmp_path: Path) -> None:
    """The follower sees each chunk before the writer writes the next one (no time assumptions)."""

    async def scenario() -> list[tuple[str, bytes]]:
        store = LogStore(tmp_path)
        done = False
        seen: list[tuple[str, bytes]] = []
        acknowledged = asyncio.Event()

        async def writer() -> None:
            nonlocal done
            for name, data in (("step-a", b"first\n"), ("step-b", b"second\n")):
                acknowledged.clear()
                store.write(name, data)
                await acknowledged.wait()  # only continues once the follower has seen it
            done = True
            store.close()

        async def follower() -> None:
            async for name, data in follow(tmp_path, None, lambda: done, poll_interval=0.01):
                seen.append((name, data))
                acknowledged.set()

        await asyncio.wait_for(asyncio.gather(writer(), follower()), timeout=30)
        return seen

    assert asyncio.run(scenario()) == [("step-a", b"first\n"), ("step-b", b"second\n")]


def test_follow_reads_everything_written_before_done(tmp_path: Path) -> None:
    with LogStore(tmp_path) as store:
        store.write("step-a", b"a" * 200_000)

    async def collect() -> bytes:
        out = b""
        async for _, data in follow(tmp_path, ["step-a", "step-not-started"], lambda: True):
            out += data
        return out

    assert asyncio.run(collect()) == b"a" * 200_000
