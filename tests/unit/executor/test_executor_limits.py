from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tektite.executor.limits import MemoryLimiter, find_cgroup_parent


def fake_cgroup2(tmp_path: Path, own: str, subtree: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    for rel, controllers in subtree.items():
        d = root / rel if rel else root
        d.mkdir(parents=True, exist_ok=True)
        (d / "cgroup.subtree_control").write_text(controllers)
    (root / own.lstrip("/")).mkdir(parents=True, exist_ok=True)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(f"0::{own}\n")
    return root, self_cgroup


def test_delegated_parent_with_memory_controller_is_found(tmp_path: Path) -> None:
    root, self_cgroup = fake_cgroup2(
        tmp_path, "/user.slice/tektite.service/main", {"user.slice/tektite.service": "memory pids"}
    )
    assert find_cgroup_parent(root, self_cgroup) == root / "user.slice" / "tektite.service"


def test_no_memory_controller_means_no_cgroup(tmp_path: Path) -> None:
    root, self_cgroup = fake_cgroup2(tmp_path, "/a/b", {"a": "pids", "a/b": ""})
    assert find_cgroup_parent(root, self_cgroup) is None


def test_cgroup_v1_or_hybrid_hosts_fall_back(tmp_path: Path) -> None:
    (tmp_path / "not-unified").mkdir()
    assert find_cgroup_parent(tmp_path / "not-unified", tmp_path / "missing") is None


def test_cgroup_limit_creates_a_child_with_memory_max(tmp_path: Path) -> None:
    parent = tmp_path / "deleg"
    parent.mkdir()
    (parent / "cgroup.subtree_control").write_text("memory")
    limiter = MemoryLimiter(parent)
    assert limiter.mode == "cgroup2"
    run, note = limiter.wrap(["python3", "x.py"], 64 * 1024 * 1024, "step-a")
    assert note is None and run.cgroup is not None and run.cgroup.parent == parent
    assert (run.cgroup / "memory.max").read_text() == str(64 * 1024 * 1024)
    assert run.argv[-2:] == ["python3", "x.py"] and str(run.cgroup / "cgroup.procs") in run.argv
    (run.cgroup / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert run.oom_killed()
    for f in run.cgroup.iterdir():  # a real cgroup directory has no removable files; emulate that
        f.unlink()
    run.finish()
    assert not run.cgroup.exists()


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
def test_without_cgroup_the_limit_is_an_address_space_rlimit() -> None:
    limiter = MemoryLimiter(None, detect=False)
    assert limiter.mode == "rlimit"
    run, note = limiter.wrap(["true"], 1000, "step-a")
    assert run.argv[1:] == ["--as=1000", "--", "true"] and note is None
    unlimited, _ = limiter.wrap(["true"], None, "step-a")
    assert unlimited.argv == ["true"]
    assert "RLIMIT_AS" in limiter.describe()
