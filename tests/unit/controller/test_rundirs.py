"""Spare run directories: skeletons made ahead by a thread, renamed into place by a starting run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tektite.controller.rundirs import SANDBOX_SKELETON, SpareRunDirs, sandbox_links
from tektite.executor.layout import prepare_run_dir
from tektite.executor.logs import LogStore, containers_with_logs, read
from tektite.executor.plan import Mount
from tektite.executor.testkit import pod, step


def ready(spares: SpareRunDirs, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(spares) < n:
        assert time.monotonic() < deadline, "spares were not made"
        time.sleep(0.01)


def test_a_claimed_skeleton_becomes_the_run_directory_and_its_first_log(tmp_path: Path) -> None:
    spares = SpareRunDirs(tmp_path / "runs" / ".spare", size=3, low=1)
    spares.start()
    try:
        ready(spares, 3)
        target = tmp_path / "runs" / "team-a" / "build-1234abcd"
        assert spares.claim(target)
        assert (target / "tekton" / "home").is_dir()
        logs = LogStore(target)
        logs.write("step-build", b"hello\n")
        logs.close()
        assert (target / "logs" / "step-build.log").read_bytes() == b"hello\n"
        assert containers_with_logs(target) == ["step-build"]
        assert not (target / "logs" / ".blank").exists()
    finally:
        spares.close()
    assert not spares.root.exists()  # nothing left behind in the home


def test_the_first_log_keeps_what_was_written_before_and_after_it_got_its_name(tmp_path: Path) -> None:
    """The first container writes into the spare's empty file from its first byte; the file gets
    the container's name once it runs (LogStore.settle), and later containers list after it."""
    spares = SpareRunDirs(tmp_path / ".spare", size=1, low=0)
    spares.start()
    try:
        ready(spares, 1)
        target = tmp_path / "run"
        assert spares.claim(target)
        logs = LogStore(target)
        fd = logs.fileno("step-a")  # what the process gets as stdout and stderr
        os.write(fd, b"before\n")
        logs.settle()
        os.write(fd, b"after\n")
        logs.write("step-b", b"second\n")
        logs.close()
        assert read(target, "step-a") == b"before\nafter\n"
        assert read(target, "step-b") == b"second\n"
        assert containers_with_logs(target) == ["step-a", "step-b"]
        assert sorted(p.name for p in (target / "logs").iterdir()) == [
            "containers",
            "step-a.log",
            "step-b.log",
        ]
    finally:
        spares.close()


def test_a_target_that_already_has_content_is_refused_and_the_spare_kept(tmp_path: Path) -> None:
    spares = SpareRunDirs(tmp_path / ".spare", size=1, low=0)
    spares.start()
    try:
        ready(spares, 1)
        target = tmp_path / "run"
        (target / "logs").mkdir(parents=True)
        (target / "logs" / "step-a.log").write_text("earlier attempt\n")
        assert not spares.claim(target)
        assert (target / "logs" / "step-a.log").read_text() == "earlier attempt\n"
        assert spares.claim(tmp_path / "other")  # the refused spare is still there
    finally:
        spares.close()


def test_without_a_spare_the_run_makes_its_own_directories(tmp_path: Path) -> None:
    spares = SpareRunDirs(tmp_path / ".spare", size=0)  # never started: nothing ready
    assert not spares.claim(tmp_path / "run")
    logs = LogStore(tmp_path / "run")
    logs.write("step-a", b"x")
    logs.close()
    assert (tmp_path / "run" / "logs" / "step-a.log").read_bytes() == b"x"


def test_an_engine_started_again_gets_spares_again(tmp_path: Path) -> None:
    spares = SpareRunDirs(tmp_path / ".spare", size=2, low=0)
    spares.start()
    ready(spares, 2)
    spares.close()
    spares.start()
    try:
        ready(spares, 2)
        assert spares.claim(tmp_path / "run")
    finally:
        spares.close()


def test_a_sandbox_skeleton_brings_tektons_layout_and_prepare_completes_it(tmp_path: Path) -> None:
    """The sandbox mounts Tekton's whole /tekton layout: its spares bring it (down to the first
    step's status directory, its index link and the compatibility programs); preparing the pod
    adds only what depends on its steps, and the layout is the one a run without a spare gets."""
    spares = SpareRunDirs(
        tmp_path / ".spare", size=1, low=0, skeleton=SANDBOX_SKELETON, links=sandbox_links()
    )
    spares.start()
    try:
        ready(spares, 1)
        with_spare, without = tmp_path / "a", tmp_path / "b"
        assert spares.claim(with_spare)
        for run_dir in (with_spare, without):
            steps = [step("build", command=["true"]), step("push", command=["true"])]
            prepare_run_dir(pod(run_dir, steps, mounts=[Mount(run_dir / "workspace", "/workspace")]))
    finally:
        spares.close()

    def layout(root: Path) -> dict[str, str]:
        found = {}
        for path in sorted(root.rglob("*")):
            rel = str(path.relative_to(root))
            found[rel] = (
                f"-> {os.readlink(path)}" if path.is_symlink() else ("dir" if path.is_dir() else "file")
            )
        return found

    got = layout(with_spare)
    assert got.pop("logs") == "dir" and got.pop("logs/.blank") == "file"  # the spare's log folder
    assert got == layout(without)
    assert got["tekton/steps/0"] == "-> ../run/0/status"
    assert got["tekton/steps/1"] == "-> ../run/1/status"
    assert got["tekton/steps/step-build"] == "-> ../run/0/status"
